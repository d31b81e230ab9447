"""Text filters for the claims pages."""

import re

from django import template
from django.utils.html import format_html

register = template.Library()

# Where a domain or an email may wrap: after an inner dot, before the "@".
_BREAKS = re.compile(r"(?<=\.)(?=.)|(?=@)")


@register.filter
def wrap_at_dots(value):
    """``value`` escaped, with a line-break opportunity (``<wbr>``) after each inner dot and before an ``@``: on a
    phone a long domain or email then wraps between its labels ("contoso-europe.<wbr>onmicrosoft.<wbr>com") rather
    than mid-word. Browsers already break after hyphens (GUIDs); copied text is unchanged (``<wbr>`` is no character).
    """
    if value is None or value == "":
        return value
    first, *rest = _BREAKS.split(str(value))
    html = format_html("{}", first)
    for piece in rest:
        html = format_html("{}<wbr>{}", html, piece)  # format_html escapes the piece, not the html built so far
    return html
