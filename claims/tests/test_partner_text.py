"""No partner text in the customer's voice (SPEC §7, §14): one-line fields refuse line breaks and control
characters at every entry point (the wizard's steps, the answer's edits, the model), and the customer's email and
page show what the partner typed only as quoted data in a block of its own."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from claims.emails import customer_notified_email
from claims.models import Claim, ClaimStatus
from claims.services import claim_request_information
from claims.tests.factories import claim_make
from claims.tests.wizard_steps import CONTACTS, M365_CUSTOMER, post_step, start
from claims.tokens import opt_out_token_make

pytestmark = pytest.mark.django_db

INJECTED = (
    "Dana\r\n\r\nIMPORTANT: your IT team already approved this. The link below is an old test link; do not open it."
)
ONE_LINE = "Enter this on one line: line breaks, tabs and invisible text-direction characters cannot be saved here."
ONE_LINE_ZH = "請在同一行輸入：此處無法儲存換行、定位字元與看不見的文字方向字元。"  # noqa: RUF001 (zh-Hant punctuation)
ONE_LINE_FIELDS = [
    "name",
    "customer_contact_name",
    "customer_contact_title",
    "technical_contact_name",
    "technical_contact_title",
    "partner_contact_name",
    "dynamics_seller_name",
    "customer_name",
    "isv_solution_name",
]


def _errors(response, field):
    return response.context["form"].errors.get(field, [])


@pytest.mark.parametrize(
    ("value", "language", "message"),
    [
        ("Northwind\nIMPORTANT", "en", ONE_LINE),
        ("Northwind\u2028IMPORTANT", "en", ONE_LINE),
        ("Northwind\tclaim", "zh-TW", ONE_LINE_ZH),
    ],
)
def test_partner_text_wizard_claim_name_refuses_line_breaks(client_a, m365_tenant, value, language, message):
    client_a.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    post_step(client_a, "activity", {"solution_area": "microsoft_365"})

    response = post_step(client_a, "associate", {"name": value})

    assert response.context["wizard"]["steps"].current == "associate"
    assert _errors(response, "name") == [message]


def test_partner_text_wizard_contacts_refuse_line_breaks(client_a, m365_tenant, products):
    start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    post_step(client_a, "activity", {"solution_area": "microsoft_365"})
    post_step(client_a, "associate", {"name": "Northwind"})
    post_step(client_a, "products", {"products": [str(products["microsoft-teams"].pk)]})

    response = post_step(
        client_a,
        "contacts",
        {
            **CONTACTS,
            "customer_contact_name": INJECTED,
            "customer_contact_title": "CIO\nreally",
            "partner_contact_name": "Pat\rP",
        },
    )

    assert response.context["wizard"]["steps"].current == "contacts"
    for field in ("customer_contact_name", "customer_contact_title", "partner_contact_name"):
        assert _errors(response, field) == [ONE_LINE]


def test_partner_text_answer_edit_refuses_a_contact_name_with_a_line_break(
    client_a, partner_a, m365_tenant, products, reviewer
):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    claim_request_information(claim=claim, user=reviewer, reason="contact_unverified", message="Who is Dana?")

    response = client_a.post(
        reverse("claims:respond", args=[claim.pk]),
        {"comment": "Fixed.", "customer_contact_name": INJECTED},
        headers={"accept-language": "zh-TW"},
    )

    assert response.status_code == 400
    assert response.context["answer_form"].errors["customer_contact_name"] == [ONE_LINE_ZH]
    assert "IMPORTANT: your IT team already approved this." in response.content.decode()  # kept, to be corrected
    claim.refresh_from_db()
    assert (claim.status, claim.customer_contact_name) == (ClaimStatus.ACTION_REQUIRED, "Dana Customer")


@pytest.mark.parametrize("field", ONE_LINE_FIELDS)
@pytest.mark.parametrize("value", ["Dana\nIMPORTANT", "Dana\r\nX", "Dana\x0bX", "Dana\u2029X", "Dana\u202eX"])
def test_partner_text_model_validation_refuses_line_breaks_in_one_line_fields(field, value):
    claim = Claim(**{field: value})

    with pytest.raises(ValidationError) as refused:
        claim.clean_fields()

    assert field in refused.value.message_dict
    assert refused.value.error_dict[field][0].code in ("single_line", "control_character")


def test_partner_text_model_validation_accepts_ordinary_names():
    claim = Claim(name="Northwind · M365 (2026)", customer_contact_name="Zoë O'Brien-Łukasz 李小龍")

    with pytest.raises(ValidationError) as other_errors:
        claim.clean_fields()

    assert "name" not in other_errors.value.message_dict
    assert "customer_contact_name" not in other_errors.value.message_dict


@pytest.fixture
def injected(partner_a, m365_tenant, products):
    """A claim written before one-line fields were enforced, its contact name carrying the attack's paragraph."""
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        customer_contact_name=INJECTED,
        customer_contact_title="IT director",
        documents=(),
    )


def test_partner_text_customer_email_quotes_it_in_its_own_block(injected):
    message = customer_notified_email(injected)
    text = message.body
    html = message.alternatives[0][0]

    # The greeting names nobody; the partner's words appear once, after the link, on one quoted line.
    assert text.startswith("Hello,\n")
    assert text.count("IMPORTANT") == 1 and text.count("Dana") == 1
    link = text.index("/customer/opt-out/")
    block = text.index("Details Contoso Partners entered in its request, quoted as typed")
    assert link < block
    assert (
        "  Customer contact: “Dana IMPORTANT: your IT team already approved this. The link below is an old test "
        "link; do not open it.”\n  Title: “IT director”\n"
    ) in text
    # Outside the block, nothing the partner typed (the block is the text's last part, between its rules).
    assert "Dana" not in text[:block] and "IT director" not in text[:block]

    assert html.count("IMPORTANT") == 1
    details = re.search(r'<div class="partner-details".*?</div>', html, re.DOTALL).group(0)
    assert "“Dana IMPORTANT: your IT team already approved this." in details
    assert "Dana" not in html.replace(details, "") and "IT director" not in html.replace(details, "")
    assert html.index('href="http') < html.index(details)


def test_partner_text_customer_email_in_zh_hant_quotes_it_too(injected, m365_tenant):
    m365_tenant.country = "TW"
    m365_tenant.save(update_fields=["country"])
    injected.tenant.refresh_from_db()

    text = customer_notified_email(injected).body

    assert text.startswith("您好：\n")  # noqa: RUF001 (zh-Hant punctuation)
    assert "  客戶連絡人：「Dana IMPORTANT: your IT team already approved this." in text  # noqa: RUF001
    assert text.count("IMPORTANT") == 1


def test_partner_text_customer_page_quotes_it_in_its_own_block(client, injected):
    token = opt_out_token_make(submission_key=injected.submission_key, deadline=injected.opt_out_deadline)

    page = client.get(reverse("customer_opt_out", args=[token])).content.decode()

    details = re.search(r'<div class="partner-details" id="partner-details">.*?</div>', page, re.DOTALL).group(0)
    assert "“Dana IMPORTANT: your IT team already approved this." in details
    assert page.count("IMPORTANT") == 1
    assert "IT director" not in page.replace(details, "")
