"""The messages shown after an action (e.g. "submitted") are a valid list inside a live region: the <ul> holds
only <li> children with no role (axe rules ``list`` and ``aria-allowed-role``), and the region announces them."""

from html.parser import HTMLParser

import pytest

from claims.tests.wizard_steps import submit, walk_m365

pytestmark = pytest.mark.django_db


class _Messages(HTMLParser):
    """The messages list's direct children and its ancestors' roles."""

    VOID = {"br", "img", "input", "meta", "link", "hr", "wbr", "source"}

    def __init__(self):
        super().__init__()
        self.stack, self.children, self.ancestor_roles, self.texts = [], [], None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.stack and self.stack[-1][0] == "ul" and "messages" in self.stack[-1][1].get("class", ""):
            self.children.append((tag, attrs))
        if tag == "ul" and "messages" in attrs.get("class", ""):
            self.ancestor_roles = [a.get("role") for _, a in self.stack if a.get("role")]
        if tag not in self.VOID:
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1][0] == "li" and self.ancestor_roles is not None and data.strip():
            self.texts.append(data.strip())


def test_messages_after_submit_are_a_valid_list_in_a_live_region(client_a, products, m365_tenant, s3_objects):
    key = walk_m365(client_a, [products["microsoft-teams"]])
    response = submit(client_a, key)
    page = client_a.get(response["Location"]).content.decode()
    parsed = _Messages()
    parsed.feed(page)
    assert parsed.children == [("li", {"class": "message success"})]
    assert parsed.ancestor_roles == ["status"]
    assert parsed.texts == ["Your customer association was submitted. We'll validate it shortly."]
