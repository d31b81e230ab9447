"""Every template string is marked for translation and every page, email and script string exists in zh-Hant.

(a) parses each template under templates/ and fails on user-facing text outside {% translate %} and
{% blocktranslate %}; (b) renders the main pages with ``Accept-Language: zh-TW`` and fails on catalog msgids left in
English; (c) renders an email under ``translation.override("zh-hant")``; (d) the JavaScript catalog.
"""

import datetime
import re
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.template import Engine
from django.template.base import TextNode
from django.template.loader_tags import BlockNode, IncludeNode
from django.templatetags.i18n import BlockTranslateNode, TranslateNode
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise

from associations.models import UsageRecord, UserPreference
from associations.tests.fixtures import make_user
from claims.emails import customer_notified_email, rejected_email
from claims.models import ClaimStatus
from claims.tests.factories import claim_make, claim_make_official

TEMPLATES = Path(settings.BASE_DIR) / "templates"
LOCALE = Path(settings.BASE_DIR) / "locale" / "zh_Hant" / "LC_MESSAGES"
# Letters of any script: text with one of these is meant for a reader.
LETTER = re.compile(r"[^\W\d_]")
USER_FACING_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label"}
# Where a template leaves a value out, the text stands in for it; no letter, so never flagged itself.
HOLE = "\x00"
ATTRIBUTE_FRAGMENT = re.compile(r'^[\s\x00]*[a-z][\w-]*="[^"]*"[\s\x00]*$')


@pytest.fixture(autouse=True)
def _english_afterwards():
    # A request with Accept-Language activates its language in this thread; later tests expect the default.
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _templates():
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt"))


def _walk(nodelist, out, problems):
    """Flatten a parsed template: text as it is, every other node as HOLE; translate blocks are not walked into."""
    for node in nodelist:
        if isinstance(node, TextNode):
            out.append(node.s)
            continue
        out.append(HOLE)
        if isinstance(node, TranslateNode | BlockTranslateNode):
            continue
        if isinstance(node, BlockNode) and node.name == "bodyclass":  # the admin's <body> classes: markup, not text
            continue
        # {% include ... with label="Text" %} and {% with x="Text" %}: a plain literal is untranslated text.
        for value in getattr(node, "extra_context", {}).values():
            literal = value.var
            if isinstance(literal, str) and not isinstance(literal, Promise) and LETTER.search(literal):
                problems.append(f"literal {literal!r} in a tag (use _(...))")
        for attribute in node.child_nodelists:
            child = getattr(node, attribute, None)
            if child is not None and not isinstance(node, IncludeNode):
                _walk(child, out, problems)


class _TextFinder(HTMLParser):
    """Text a reader sees (outside <script>/<style>) and user-facing attribute values."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        attributes = dict(attrs)
        for name, value in attrs:
            visible = name in USER_FACING_ATTRIBUTES or (
                name == "value" and tag == "input" and attributes.get("type") in ("submit", "button", "reset")
            )
            if visible and value:
                self.found.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        if not self._skip:
            self.found.append(data)


def _unmarked(path):
    engine = Engine.get_default()
    template = engine.from_string(path.read_text())
    out, problems = [], []
    _walk(template.nodelist, out, problems)
    # A tag's name followed by {% if %} attributes: keep the tag parseable.
    flat = re.sub(r"(<[A-Za-z][\w-]*)" + HOLE, r"\1 ", "".join(out))
    if path.suffix == ".html":
        finder = _TextFinder()
        finder.feed(flat)
        finder.close()
        texts = finder.found
    else:
        texts = [flat]
    # A block that only adds an attribute to its parent's tag (e.g. {% block form_attrs %} enctype="..."): markup.
    texts = [ATTRIBUTE_FRAGMENT.sub("", text) for text in texts]
    problems += [repr(text.replace(HOLE, "…").strip()) for text in texts if LETTER.search(text.replace(HOLE, ""))]
    return problems


def test_i18n_templates_every_user_facing_string_is_marked():
    found = {str(path.relative_to(TEMPLATES)): _unmarked(path) for path in _templates()}
    assert len(found) > 50
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_i18n_templates_unmarked_check_can_fail(tmp_path):
    # The check itself: unmarked text, an unmarked placeholder, a literal include label are each found; marked are not.
    cases = {
        "<p>Hello {{ name }}</p>": ["'Hello …'"],
        '{% load i18n %}<input placeholder="Search here" value="{% translate "x" %}">': ["'Search here'"],
        '{% include "claims/_field.html" with label="Email" %}': ["literal 'Email' in a tag (use _(...))"],
        '{% load i18n %}<p>{% translate "Hello" %} {{ name }}</p><a href="/x" class="y">—</a>': [],
        "{% load i18n %}<button>{% blocktranslate trimmed %}Hi {{ name }}{% endblocktranslate %}</button>": [],
        # The admin's <body> classes are markup; the page's text beside them is not.
        "{% block bodyclass %}{{ block.super }} decision-page{% endblock %}<p>Hi</p>": ["'Hi'"],
    }
    for source, expected in cases.items():
        path = tmp_path / "case.html"
        path.write_text(source)
        assert _unmarked(path) == expected, source


def _catalog(name):
    return polib.pofile(str(LOCALE / name))


def test_i18n_templates_catalog_is_complete():
    for name in ("django.po", "djangojs.po"):
        catalog = _catalog(name)
        missing = [entry.msgid for entry in catalog if not entry.obsolete and not entry.translated()]
        assert len(catalog) > 0
        assert missing == [], name


def _visible(html):
    finder = _TextFinder()
    finder.feed(html)
    finder.close()
    return [" ".join(text.split()) for text in finder.found if text.strip()]


def _leftovers(english_html, chinese_html, templates=None):
    """Catalog msgids of the page's templates that the zh-Hant page still shows in English as often as the English
    page does (so none of their uses was translated; a Python label with the same words may remain until it is)."""
    catalog = _catalog("django.po")
    english, chinese = _visible(english_html), _visible(chinese_html)
    english_joined, chinese_joined = "\n".join(english), "\n".join(chinese)
    left = []
    for entry in catalog:
        msgid = " ".join(entry.msgid.split())
        if "%(" in msgid or "<" in msgid or entry.msgstr == entry.msgid or not LETTER.search(msgid):
            continue
        if templates is not None and not any(path in templates for path, _ in entry.occurrences):
            continue
        # A short label counts where it is a whole text of the page; a sentence anywhere in the text.
        if len(msgid.split()) >= 4:
            shown_en, shown_zh = english_joined.count(msgid), chinese_joined.count(msgid)
        else:
            shown_en, shown_zh = english.count(msgid), chinese.count(msgid)
        if shown_en and shown_zh >= shown_en:
            left.append(msgid)
    return sorted(left)


def _rendered(response):
    return {f"templates/{template.name}" for template in response.templates if template.name}


@pytest.fixture
def pages(partner_a, m365_tenant, products):
    """The main pages of a partner: list, a claim in each state with its own panel, usage, wizard steps."""
    claims = {
        status: claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], status=status)
        for status in (ClaimStatus.UNDER_REVIEW, ClaimStatus.ACTION_REQUIRED, ClaimStatus.CUSTOMER_NOTIFIED)
    }
    official = claim_make_official(partner_a, tenant=m365_tenant, product=products["yammer"])
    UsageRecord.objects.create(
        tenant=m365_tenant,
        product=products["yammer"],
        month=datetime.date(2026, 10, 1),
        active_users=1234,
        paid_units=9,
    )
    urls = [reverse("claims:list"), reverse("claims:create"), reverse("claims:usage", args=[official.pk])]
    urls += [reverse("claims:detail", args=[claim.pk]) for claim in [*claims.values(), official]]
    return urls


def test_i18n_templates_partner_pages_in_chinese(client, partner_a, pages):
    client.force_login(partner_a.admin)

    for url in pages:
        english = client.get(url).content.decode()
        chinese_response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-TW")
        chinese = chinese_response.content.decode()

        assert chinese_response.status_code == 200, url
        assert '<html lang="zh-Hant">' in chinese and '<html lang="en">' in english, url
        assert "客戶關聯" in chinese and "Customer associations" not in chinese, url
        assert _leftovers(english, chinese, _rendered(chinese_response)) == [], url

    wizard = client.get(reverse("claims:create"), HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "繼續" in wizard and ">Continue<" not in wizard


def test_i18n_templates_dates_and_numbers_follow_the_language(client, partner_a, pages):
    client.force_login(partner_a.admin)
    usage = client.get(pages[2], HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    notified = client.get(pages[5], HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()

    assert "<td>2026年10月</td><td>1,234</td>" in usage
    assert re.search(r"<strong>\d{4}年\d{1,2}月\d{1,2}日 星期.", notified)
    assert "<td>October 2026</td><td>1,234</td>" in client.get(pages[2]).content.decode()


def test_i18n_templates_visitor_pages_in_chinese(client, db):
    for url in (reverse("login"), reverse("password_reset")):
        english = client.get(url).content.decode()
        chinese_response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-TW")
        chinese = chinese_response.content.decode()

        assert "登入" in chinese or "重設" in chinese, url
        assert _leftovers(english, chinese, _rendered(chinese_response)) == [], url


def test_i18n_templates_leftover_check_can_fail():
    sentence = "We are checking the claim automatically. This usually takes a few seconds."
    page = f"<html><body><h2>History</h2><p>{sentence}</p>"
    assert _leftovers(page, page) == [
        "History",
        "We are checking the claim automatically. This usually takes a few seconds.",
    ]
    translated = page.replace("<h2>History</h2>", "<h2>歷程記錄</h2>")
    assert _leftovers(page, translated, {"templates/claims/claim_detail.html"}) == []


def test_i18n_templates_email_in_chinese(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], status=ClaimStatus.CUSTOMER_NOTIFIED
    )
    rejected = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.REJECTED)

    # Emails choose their own language (claims.emails): the customer's is the tenant's (Taiwan: zh-Hant), the
    # partner's that of the user whose address the contact is, when that user saved one.
    english = customer_notified_email(claim)
    m365_tenant.country = "TW"
    m365_tenant.save(update_fields=["country"])
    claim.tenant.refresh_from_db()
    contact = make_user(rejected.partner_contact_email)
    UserPreference.objects.create(user=contact, language="zh-hant")
    notified = customer_notified_email(claim)
    rejection = rejected_email(rejected)

    assert notified.subject == f"{partner_a.partner.name} 要求成為您的記錄合作夥伴"
    assert "您好" in notified.body and "選擇退出" in notified.body and "Hello" not in notified.body
    html = notified.alternatives[0][0]
    assert '<html lang="zh-Hant">' in html and "檢閱此要求" in html
    assert "合作夥伴中心" in html and "Partner Center" not in html
    assert rejection.subject == f"您的宣告「{rejected.name}」已被拒絕"
    assert english.subject == f"{partner_a.partner.name} asks to be your partner of record"


def test_i18n_templates_javascript_catalog_in_chinese(client, partner_a):
    client.force_login(partner_a.admin)

    chinese = client.get(reverse("javascript-catalog"), HTTP_ACCEPT_LANGUAGE="zh-TW")
    english = client.get(reverse("javascript-catalog"))

    assert chinese.status_code == 200 and "javascript" in chinese["Content-Type"]
    # json.dumps escapes non-ASCII: "\u79fb\u9664" is 移除 (Remove).
    assert '"Remove": "\\u79fb\\u9664"' in chinese.content.decode()
    assert "\\u79fb\\u9664" not in english.content.decode()
    wizard = client.get(reverse("claims:create")).content.decode()
    assert wizard.index(reverse("javascript-catalog")) < wizard.index("js/wizard.js")
