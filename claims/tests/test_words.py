"""Words that say what is true (issue 15): a product nobody holds is "Available to claim", a copy is named as one,
the claim page names "your company's contact" as the glossary does, lists are joined as the language joins them."""

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from associations.wording import words_list
from claims.models import Claim, ClaimStatus
from claims.services.drafts import claim_copy_name
from claims.tests.factories import claim_make
from claims.tests.wizard_steps import M365_CUSTOMER, post_step, start

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-TW"}


@pytest.fixture(autouse=True)
def _english_after():
    """The test client runs requests in this thread: a zh-TW request's language would outlive the test."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def _products_step(client, **headers):
    start(client)
    post_step(client, "customer", M365_CUSTOMER)
    post_step(client, "activity", {"solution_area": "microsoft_365"})
    return client.post(
        reverse("claims:create"), {"claim_wizard-current_step": "associate", "associate-name": "Teams"}, **headers
    )


def test_words_products_step_says_available_to_claim_not_free(client_a, m365_tenant, products):
    response = _products_step(client_a)
    html = response.content.decode()
    labels = {option.choice_label: label for option, _s, label, _c in response.context["form"].product_options()}

    assert labels["Yammer"] == "Available to claim"
    assert '<span class="availability availability-free">Available to claim</span>' in html
    assert ">Free<" not in html and "whether it is free" not in html

    chinese = _products_step(client_a, **ZH).content.decode()
    assert '<span class="availability availability-free">可宣告</span>' in chinese


def test_words_copy_is_named_as_a_copy_in_the_users_language(client_a, partner_a, m365_tenant, products):
    final = claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.REJECTED_FINAL, name="Teams"
    )
    client_a.post(reverse("claims:copy", args=[final.pk]))
    client_a.post(reverse("claims:copy", args=[final.pk]), **ZH)

    names = sorted(Claim.objects.filter(status=ClaimStatus.DRAFT).values_list("name", flat=True))
    assert names == ["Copy of Teams", "Teams（複本）"]  # noqa: RUF001 (zh-Hant parentheses)
    copies = Claim.objects.filter(status=ClaimStatus.DRAFT).order_by("pk")
    assert [c.draft_data["step_data"]["associate"]["associate-name"] for c in copies] == [
        ["Copy of Teams"],
        ["Teams（複本）"],  # noqa: RUF001
    ]
    # The list shows the copy beside the original, each with its own name.
    page = client_a.get(reverse("claims:list")).content.decode()
    assert ">Teams</a>" in page and ">Copy of Teams</a>" in page


def test_words_copy_name_fits_the_column():
    long = "Northwind Traders " + "x" * 120
    copied = claim_copy_name(long)
    assert len(copied) == Claim._meta.get_field("name").max_length == 120
    assert copied.startswith("Copy of Northwind Traders xx") and copied.endswith("x…")
    with translation.override("zh-hant"):
        chinese = claim_copy_name(long)
    assert len(chinese) == 120 and chinese.endswith("x…（複本）")  # noqa: RUF001
    assert claim_copy_name("  ") == ""
    assert claim_copy_name("Short") == "Copy of Short"


def test_words_claim_page_names_your_companys_contact_and_joins_lists(client_a, partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.REJECTED,
        rejection_reasons=["Your company's contact name is missing."],
    )
    url = reverse("claims:detail", args=[claim.pk])
    english = client_a.get(url).content.decode()
    chinese = client_a.get(url, **ZH).content.decode()
    listed = client_a.get(reverse("claims:list"), **ZH).content.decode()

    assert "<dt>Your company's contact</dt><dd>Pat Partner, claims<wbr>@partner-a.<wbr>example</dd>" in english
    assert "<dt>貴公司的連絡人</dt><dd>Pat Partner、claims<wbr>@partner-a.<wbr>example</dd>" in chinese
    assert "缺少貴公司的連絡人姓名。" in chinese and "貴公司連絡人的" not in chinese
    assert "Microsoft Teams、Yammer" in listed
    with translation.override("en"):
        assert words_list(["A", "B"]) == "A, B"
    with translation.override("zh-hant"):
        assert words_list(["A", "B", "C"]) == "A、B、C"
