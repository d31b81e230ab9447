"""The |wrap_at_dots filter: long domains and emails wrap between their labels on a phone, never mid-word."""

import pytest
from django.template import Context, Template


@pytest.mark.parametrize(
    ("value", "html"),
    [
        ("northwindtraders.onmicrosoft.com", "northwindtraders.<wbr>onmicrosoft.<wbr>com"),
        ("nancy@contoso.com", "nancy<wbr>@contoso.<wbr>com"),
        ("trailing.", "trailing."),
        ("<b>x.y</b>", "&lt;b&gt;x.<wbr>y&lt;/b&gt;"),  # escaped first: the filter adds only <wbr>
        ("", ""),
        (None, "None"),
    ],
)
def test_wrap_at_dots_breaks_between_labels(value, html):
    assert Template("{% load claims_text %}{{ value|wrap_at_dots }}").render(Context({"value": value})) == html
