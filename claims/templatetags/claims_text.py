"""Text filters for the claims pages."""

import re

from django import template
from django.template import engines
from django.utils import translation
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from associations.models import Program
from associations.validators import SINGLE_LINE_REFUSED
from associations.wording import words_list as _words_list

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


# Line breaks, control characters and bidirectional controls (what one-line fields refuse), in runs, with the
# spaces around them.
_NOT_ONE_LINE = re.compile(r"\s*(?:" + SINGLE_LINE_REFUSED.pattern + r")+\s*")


@register.filter
def one_line(value):
    """``value`` on one line: each run of line breaks and control characters becomes one space. For partner text
    shown to a customer as quoted data (one-line fields refuse them since; rows written before may hold them)."""
    if value is None:
        return ""
    return _NOT_ONE_LINE.sub(" ", str(value)).strip()


@register.simple_tag
def partner_details(claim):
    """What the partner typed that the customer sees (SPEC §7): (label, value) pairs, shown only as quoted data in
    a block of their own, never in the email's or the page's own sentences. Each value on one line, whatever a row
    written before one-line fields were enforced holds."""
    details = [
        (gettext("Customer contact"), claim.customer_contact_name),
        (gettext("Title"), claim.customer_contact_title),
    ]
    if claim.technical_contact_email and claim.technical_contact_name:
        details += [
            (gettext("Technical contact"), claim.technical_contact_name),
            (gettext("Title"), claim.technical_contact_title),
        ]
    # Who to contact about the request (SPEC §7): the partner's contact, as the partner typed it.
    details += [
        (gettext("Partner contact"), claim.partner_contact_name),
        (gettext("Partner contact email"), claim.partner_contact_email),
    ]
    if claim.is_revenue_association:
        details += [
            (gettext("Dynamics solution seller name"), claim.dynamics_seller_name),
            (gettext("Customer name"), claim.customer_name),
            (gettext("Name of ISV product/solution"), claim.isv_solution_name),
        ]
    return [(label, one_line(value)) for label, value in details if value]


@register.simple_tag
def words_list(*values):
    """The non-empty ``values`` (a contact's name, title and address), each escaped unless already safe, separated
    as the active language separates the items of a list (``associations.wording.words_list``)."""
    return mark_safe(_words_list(conditional_escape(value) for value in values if value))  # noqa: S308 (escaped)


@register.simple_tag
def gap():
    """The space between two sentences, or a sentence and what follows it (a link, a count): one space in English,
    none in Chinese, which ends its sentences with full-width punctuation that carries its own space (「…。下一句」)."""
    return "" if (translation.get_language() or "").startswith("zh") else " "


@register.filter
def parenthesized(value):
    """``value`` in parentheses as the active language writes them: "(…)" in English, full-width ones in Chinese,
    which needs no space before it (the caller puts ``{% gap %}`` there)."""
    if not value:
        return ""
    return format_html(gettext("({text})"), text=value)


@register.filter
def item_kind(item):
    """What a claim's item is, in a customer's words (SPEC §7): a Microsoft 365 workload, or a subscription and what
    the partner helps with (using it, before buying it, selling it)."""
    if not item.subscription_id:
        return gettext("Microsoft 365 workload")
    help_with = {
        Program.OSU_BIZAPPS: gettext("help using it"),
        Program.OSA_SELL: gettext("help before buying it"),
        Program.REVENUE_ASSOCIATION: gettext("selling it to you"),
    }.get(item.program, "")
    return gettext("Subscription %(subscription_id)s, %(help)s") % {
        "subscription_id": item.subscription.subscription_id,
        "help": help_with,
    }


@register.simple_tag
def field_group(field, label=None):
    """A form field with its label, help text and errors (templates/jinja2/claims/field.jinja); ``label`` overrides the
    field's. Jinja2: a wizard step shows up to a dozen fields, and as an include each cost more than its widget."""
    template = engines["fragments"].get_template("claims/field.jinja")
    # The words escaped as Django's templates escape them (an apostrophe is &#x27;, as on every other page), so
    # that Jinja2 prints them as they are; Jinja2 escapes the rest (autoescape), and its HTML goes in as it is.
    words = {
        "label": conditional_escape(label or field.label),
        "help_text": conditional_escape(field.help_text),
        "errors": [conditional_escape(error) for error in field.errors],
    }
    return mark_safe(template.render({"field": field, **words}))  # noqa: S308
