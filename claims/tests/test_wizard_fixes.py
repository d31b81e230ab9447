"""The wizard as partners expect it (SPEC §13): the partner's own items, switching the customer."""

import re

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from associations.models import Association
from claims.models import ClaimItem, PendingUpload
from claims.tests.wizard_steps import (
    BIZAPPS_CUSTOMER,
    CONTACTS,
    M365_CUSTOMER,
    make_claim,
    post_step,
    start,
    upload,
)


def _step(response):
    return response.context["wizard"]["steps"].current


@pytest.fixture
def wizard(client_a, m365_tenant, bizapps_tenant):
    start(client_a)
    return client_a


def _to_products(client, customer=M365_CUSTOMER, activity=None):
    assert _step(post_step(client, "customer", customer)) == "activity"
    assert _step(post_step(client, "activity", activity or {"solution_area": "microsoft_365"})) == "associate"
    response = post_step(client, "associate", {"name": "Claim"})
    assert _step(response) == "products"
    return response


def _option_html(html, product):
    """The product's row on the products step: its checkbox and its availability."""
    rows = re.findall(r'<div class="product-option">(.*?)</div>', html, re.S)
    return next(row for row in rows if product.name in row)


def test_products_step_own_items_say_so_with_link_and_are_disabled(wizard, products, partner_a, partner_b, m365_tenant):
    pending = make_claim(partner_a, m365_tenant, [products["microsoft-teams"]], name="Teams rollout")
    official = make_claim(partner_a, m365_tenant, [products["exchange-online"]], name="Mail", status="official")
    association = Association.objects.create(
        partner=partner_a.partner,
        location=partner_a.location,
        program="osu_m365",
        tenant=m365_tenant,
        product=products["exchange-online"],
    )
    ClaimItem.objects.filter(claim=official).update(association=association)
    make_claim(partner_b, m365_tenant, [products["yammer"]], name="B's pending claim")
    response = _to_products(wizard)
    options = {o.choice_label: (s, label, c) for o, s, label, c in response.context["form"].product_options()}
    assert options["Microsoft Teams"] == ("yours_pending", "Pending in your claim “Teams rollout”", pending.pk)
    assert options["Exchange Online"] == ("yours", "Already yours", official.pk)
    assert options["Yammer"] == ("pending", "Pending", None)
    html = response.content.decode()
    teams = _option_html(html, products["microsoft-teams"])
    assert "disabled" in teams and f'href="{reverse("claims:detail", args=[pending.pk])}"' in teams
    exchange = _option_html(html, products["exchange-online"])
    assert "disabled" in exchange and f'href="{reverse("claims:detail", args=[official.pk])}"' in exchange
    yammer = _option_html(html, products["yammer"])
    assert "disabled" not in yammer and "href" not in yammer and "B&#x27;s" not in html
    assert "disabled" not in _option_html(html, products["onedrive-for-business"])


def test_products_step_refuses_own_items_on_the_server(wizard, products, partner_a, m365_tenant):
    make_claim(partner_a, m365_tenant, [products["microsoft-teams"]], name="Teams rollout")
    _to_products(wizard)
    response = post_step(wizard, "products", {"products": [str(products["microsoft-teams"].pk)]})
    assert _step(response) == "products"
    assert response.context["form"].errors["products"] == [
        "Microsoft Teams is already yours or pending in one of your claims on this tenant."
    ]
    response = post_step(wizard, "products", {"products": [str(products["yammer"].pk)]})
    assert _step(response) == "contacts"


def test_products_step_disables_products_not_on_the_tenant(wizard, products, bizapps_tenant):
    activity = {"solution_area": "business_applications", "business_activity": "usage_pre_sales", "usage": "on"}
    response = _to_products(wizard, BIZAPPS_CUSTOMER, activity)
    finance = products["d365-finance"]
    assert "disabled" in _option_html(response.content.decode(), finance)
    response = post_step(wizard, "products", {"products": [str(finance.pk)]})
    assert response.context["form"].errors["products"] == ["Dynamics 365 Finance is not on this customer's tenant."]


CHANGED = "You changed the customer: the contacts and proof of execution you entered were cleared."


def _to_poe(client, products):
    _to_products(client)
    assert _step(post_step(client, "products", {"products": [str(products["yammer"].pk)]})) == "contacts"
    assert _step(post_step(client, "contacts", CONTACTS)) == "poe"
    assert upload(client).status_code == 201


def test_wizard_switching_customer_clears_contacts_and_poe_with_a_warning(wizard, products, partner_a, bizapps_tenant):
    _to_poe(wizard, products)
    stored = list(PendingUpload.objects.filter(partner=partner_a.partner))
    assert len(stored) == 1 and default_storage.exists(stored[0].file.name)
    response = post_step(wizard, "customer", BIZAPPS_CUSTOMER)
    assert _step(response) == "activity"
    assert CHANGED in [str(m) for m in response.context["messages"]]
    assert CHANGED in response.content.decode()
    assert not PendingUpload.objects.filter(partner=partner_a.partner).exists()
    assert not default_storage.exists(stored[0].file.name)
    assert wizard.session["wizard_claim_wizard"]["step_data"]["contacts"] is None


def test_wizard_same_customer_again_keeps_contacts_and_poe(wizard, products, partner_a):
    _to_poe(wizard, products)
    # The same customer, typed differently (upper case, braces): not a change.
    same = {
        **M365_CUSTOMER,
        "domain": M365_CUSTOMER["domain"].upper(),
        "directory_id": "{" + M365_CUSTOMER["directory_id"] + "}",
    }
    response = post_step(wizard, "customer", same)
    assert _step(response) == "activity"
    assert CHANGED not in response.content.decode()
    assert PendingUpload.objects.filter(partner=partner_a.partner).count() == 1
    assert wizard.session["wizard_claim_wizard"]["step_data"]["contacts"]["contacts-customer_contact_name"] == [
        CONTACTS["customer_contact_name"]
    ]


def test_wizard_switching_customer_before_later_steps_says_nothing(wizard, products, partner_a):
    _to_products(wizard)
    response = post_step(wizard, "customer", BIZAPPS_CUSTOMER)
    assert _step(response) == "activity"
    assert CHANGED not in response.content.decode()


def test_products_step_refuses_own_pending_subscription_but_not_the_product(
    wizard, products, partner_a, bizapps_tenant
):
    sales = products["d365-sales"]
    mine, other = bizapps_tenant.sales_subscriptions[:2]
    claim = make_claim(partner_a, bizapps_tenant, [], name="Sales usage", solution_area="business_applications")
    ClaimItem.objects.create(
        claim=claim, program="osu_bizapps", tenant=bizapps_tenant, product=sales, subscription=mine
    )
    activity = {"solution_area": "business_applications", "business_activity": "usage_pre_sales", "usage": "on"}
    response = _to_products(wizard, BIZAPPS_CUSTOMER, activity)
    # Another subscription is still free: the product stays pickable, the subscription choice says which is whose.
    assert "disabled" not in _option_html(response.content.decode(), sales)
    choices = dict(response.context["form"].fields["subscription_d365-sales"].choices)
    assert choices[str(mine.subscription_id)].endswith("Pending in your claim “Sales usage”")
    response = post_step(
        wizard, "products", {"products": [str(sales.pk)], "subscription_d365-sales": str(mine.subscription_id)}
    )
    assert response.context["form"].errors["subscription_d365-sales"] == [
        "This subscription is already yours or pending in one of your claims."
    ]
    response = post_step(
        wizard, "products", {"products": [str(sales.pk)], "subscription_d365-sales": str(other.subscription_id)}
    )
    assert _step(response) == "contacts"
