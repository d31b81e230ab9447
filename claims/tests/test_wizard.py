"""The claim wizard, step by step: what each step refuses, what it shows, Back, and who may use it."""

import uuid

import pytest
from django.urls import reverse

from associations.models import Association, PartnerLocation
from associations.tests.fixtures import make_subscription, make_tenant
from claims.models import Claim, ClaimItem
from claims.tests.wizard_steps import (
    BIZAPPS_CONTACTS,
    BIZAPPS_CUSTOMER,
    CONTACTS,
    M365_CUSTOMER,
    TECHNICAL,
    make_claim,
    post_step,
    start,
    upload,
    wizard_url,
)


def _step(response):
    return response.context["wizard"]["steps"].current


def _errors(response, field):
    return response.context["form"].errors.get(field, [])


@pytest.fixture
def wizard(client_a, m365_tenant, bizapps_tenant):
    start(client_a)
    return client_a


def _to_products(client, customer, activity, name="Claim"):
    assert _step(post_step(client, "customer", customer)) == "activity"
    assert _step(post_step(client, "activity", activity)) == "associate"
    response = post_step(client, "associate", {"name": name})
    assert _step(response) == "products"
    return response


BIZ_USAGE = {"solution_area": "business_applications", "business_activity": "usage_pre_sales", "usage": "on"}


# --- access ----------------------------------------------------------------------------------------------------


def test_wizard_first_step_has_labels_and_help(client_a):
    response = client_a.get(wizard_url())
    assert response.status_code == 200
    html = response.content.decode()
    for field in ("location", "domain", "directory_id"):
        assert f'<label for="id_customer-{field}">' in html
    assert "Where are these?" in html
    assert ">Continue</button>" in html


def test_wizard_incentives_user_gets_403(client, partner_a):
    client.force_login(partner_a.viewer)
    assert client.get(wizard_url()).status_code == 403
    assert post_step(client, "customer", M365_CUSTOMER).status_code == 403


def test_wizard_reviewer_without_partner_gets_404(client, reviewer):
    client.force_login(reviewer)
    assert client.get(wizard_url()).status_code == 404


def test_wizard_anonymous_goes_to_login(client):
    response = client.get(wizard_url())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- step 1 ----------------------------------------------------------------------------------------------------


def test_customer_step_unknown_directory_id(wizard):
    response = post_step(wizard, "customer", {**M365_CUSTOMER, "directory_id": str(uuid.uuid4())})
    assert _step(response) == "customer"
    assert _errors(response, "directory_id") == [
        "We don't know a customer with this Directory ID. Check it with your customer and try again."
    ]


def test_customer_step_directory_id_not_matching_domain(wizard):
    response = post_step(wizard, "customer", {**M365_CUSTOMER, "domain": "adventure-works.example"})
    assert _step(response) == "customer"
    assert _errors(response, "directory_id") == ["This Directory ID does not match the domain name."]
    assert "This Directory ID does not match the domain name." in response.content.decode()


def test_customer_step_directory_id_not_a_guid(wizard):
    response = post_step(wizard, "customer", {**M365_CUSTOMER, "directory_id": "northwind"})
    assert _errors(response, "directory_id") == [
        "Enter the Directory ID as a GUID, like 9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d."
    ]


def test_customer_step_bad_domain(wizard):
    response = post_step(wizard, "customer", {**M365_CUSTOMER, "domain": "not a domain"})
    assert _errors(response, "domain") == ["Enter a domain name such as contoso.onmicrosoft.com or contoso.com."]


def test_customer_step_mpn_id_of_another_partner(wizard, partner_b):
    response = post_step(wizard, "customer", {**M365_CUSTOMER, "location": "2000001"})
    assert _step(response) == "customer"
    assert _errors(response, "location") == ["This MPN ID is not one of your organization's active locations."]
    assert "2000001" not in response.content.decode().split("<select")[1].split("</select>")[0]


def test_customer_step_inactive_mpn_id(wizard, partner_a):
    PartnerLocation.objects.filter(mpn_id="1000002").update(is_active=False)
    response = post_step(wizard, "customer", {**M365_CUSTOMER, "location": "1000002"})
    assert _errors(response, "location") == ["This MPN ID is not one of your organization's active locations."]


def test_customer_step_missing_fields(wizard):
    response = post_step(wizard, "customer", {})
    errors = response.context["form"].errors
    assert errors["location"] == ["Select the MPN ID of your location to associate with the customer."]
    assert errors["domain"] == ["Enter the customer's domain name."]
    assert errors["directory_id"] == ["Enter the customer's Directory ID."]


def test_customer_step_accepts_either_domain_case_insensitively(wizard):
    data = {
        **M365_CUSTOMER,
        "domain": "NorthwindTraders.onmicrosoft.com",
        "directory_id": "{9A3C6B1E-2F4D-4C8A-9E7B-5D1F0A2B3C4D}",
    }
    assert _step(post_step(wizard, "customer", data)) == "activity"


# --- step 2 ----------------------------------------------------------------------------------------------------


def test_activity_step_microsoft_365_offers_only_usage(wizard):
    post_step(wizard, "customer", M365_CUSTOMER)
    response = post_step(
        wizard,
        "activity",
        {"solution_area": "microsoft_365", "business_activity": "usage_pre_sales", "pre_sales": "on"},
    )
    assert _step(response) == "activity"
    assert _errors(response, "business_activity") == ["Microsoft 365 offers only Usage."]


def test_activity_step_business_applications_needs_an_activity(wizard):
    post_step(wizard, "customer", BIZAPPS_CUSTOMER)
    response = post_step(wizard, "activity", {"solution_area": "business_applications"})
    assert _errors(response, "business_activity") == ["Select Usage and/or Pre-sales, or Revenue association."]
    response = post_step(
        wizard, "activity", {"solution_area": "business_applications", "business_activity": "usage_pre_sales"}
    )
    assert _errors(response, "usage") == ["Select Usage, Pre-sales or both."]


def test_activity_step_revenue_association_is_alone(wizard):
    post_step(wizard, "customer", BIZAPPS_CUSTOMER)
    response = post_step(
        wizard,
        "activity",
        {"solution_area": "business_applications", "business_activity": "revenue_association", "usage": "on"},
    )
    assert _errors(response, "business_activity") == [
        "Revenue association is claimed alone, without Usage or Pre-sales."
    ]


def test_activity_step_offers_seed_choices(wizard):
    html = post_step(wizard, "customer", BIZAPPS_CUSTOMER).content.decode()
    for text in (
        "Microsoft 365",
        "Business Applications",
        "Usage and/or Pre-sales",
        "Revenue association",
        "Pre-sales",
    ):
        assert text in html
    for field in ("usage", "pre_sales"):
        assert f'<label for="id_activity-{field}" class="check">' in html


# --- step 3 ----------------------------------------------------------------------------------------------------


def test_associate_step_revenue_fields_only_for_revenue_association(wizard):
    post_step(wizard, "customer", BIZAPPS_CUSTOMER)
    html = post_step(wizard, "activity", BIZ_USAGE).content.decode()
    assert "Dynamics solution seller name" not in html
    assert ">Create claim</button>" in html
    post_step(wizard, "associate", {"name": "x"}, wizard_goto_step="activity")
    response = post_step(
        wizard, "activity", {"solution_area": "business_applications", "business_activity": "revenue_association"}
    )
    html = response.content.decode()
    for label, field in [
        ("Dynamics solution seller name", "dynamics_seller_name"),
        ("Customer name", "customer_name"),
        ("Name of ISV product/solution", "isv_solution_name"),
    ]:
        assert f'<label for="id_associate-{field}">{label}</label>' in html
    response = post_step(wizard, "associate", {"name": "Revenue"})
    assert _step(response) == "associate"
    assert response.context["form"].errors == {
        "dynamics_seller_name": ["Enter the Dynamics solution seller name."],
        "customer_name": ["Enter the customer name."],
        "isv_solution_name": ["Enter the name of the ISV product or solution."],
    }


def test_associate_step_requires_name(wizard):
    post_step(wizard, "customer", M365_CUSTOMER)
    post_step(wizard, "activity", {"solution_area": "microsoft_365"})
    assert _errors(post_step(wizard, "associate", {"name": ""}), "name") == ["Enter a name for this claim."]


# --- step 4 ----------------------------------------------------------------------------------------------------


def test_products_step_product_not_on_tenant(wizard, products):
    _to_products(wizard, BIZAPPS_CUSTOMER, BIZ_USAGE)
    response = post_step(wizard, "products", {"products": [str(products["d365-finance"].pk)]})
    assert _step(response) == "products"
    assert _errors(response, "products") == ["Dynamics 365 Finance is not on this customer's tenant."]


def test_products_step_m365_workload_not_licensed(wizard, products, partner_a):
    tenant = make_tenant("Tailspin", domains=["tailspin.example"], workloads=["exchange-online"], products=products)
    customer = {"location": "1000001", "domain": "tailspin.example", "directory_id": str(tenant.directory_id)}
    _to_products(wizard, customer, {"solution_area": "microsoft_365"})
    response = post_step(wizard, "products", {"products": [str(products["yammer"].pk)]})
    assert _errors(response, "products") == ["Yammer is not on this customer's tenant."]
    assert _step(post_step(wizard, "products", {"products": [str(products["exchange-online"].pk)]})) == "contacts"


def test_products_step_product_of_other_solution_area(wizard, products):
    _to_products(wizard, M365_CUSTOMER, {"solution_area": "microsoft_365"})
    response = post_step(wizard, "products", {"products": [str(products["d365-sales"].pk)]})
    assert _errors(response, "products") == ["This product is not offered for the selected solution area."]


def test_products_step_requires_a_product(wizard):
    _to_products(wizard, M365_CUSTOMER, {"solution_area": "microsoft_365"})
    assert _errors(post_step(wizard, "products", {}), "products") == ["Select at least one product."]


def test_products_step_subscription_choice_for_multi_subscription_dynamics(wizard, products, bizapps_tenant):
    response = _to_products(wizard, BIZAPPS_CUSTOMER, BIZ_USAGE)
    form = response.context["form"]
    # Only Dynamics 365 Sales has two subscriptions: Field Service (one) and Power BI (not Dynamics) get none.
    assert list(form.multi_subscription_fields) == ["subscription_d365-sales"]
    html = response.content.decode()
    assert '<label for="id_products-subscription_d365-sales">Subscription ID for Dynamics 365 Sales</label>' in html
    for subscription in bizapps_tenant.sales_subscriptions:
        assert str(subscription.subscription_id) in html
    sales = str(products["d365-sales"].pk)
    response = post_step(wizard, "products", {"products": [sales]})
    assert _errors(response, "subscription_d365-sales") == [
        "Dynamics 365 Sales has several subscriptions on this tenant: select one."
    ]
    other = make_subscription(
        make_tenant("Other", domains=["other.example"], products=products), products["d365-sales"]
    )
    response = post_step(
        wizard, "products", {"products": [sales], "subscription_d365-sales": str(other.subscription_id)}
    )
    assert _errors(response, "subscription_d365-sales") == [
        "This subscription does not belong to this customer's tenant."
    ]
    chosen = bizapps_tenant.sales_subscriptions[1]
    response = post_step(
        wizard, "products", {"products": [sales], "subscription_d365-sales": str(chosen.subscription_id)}
    )
    assert _step(response) == "contacts"


def test_products_step_shows_availability_without_naming_partners(wizard, products, partner_a, partner_b, m365_tenant):
    Association.objects.create(
        partner=partner_a.partner,
        location=partner_a.location,
        program="osu_m365",
        tenant=m365_tenant,
        product=products["exchange-online"],
    )
    Association.objects.create(
        partner=partner_b.partner,
        location=partner_b.location,
        program="osu_m365",
        tenant=m365_tenant,
        product=products["sharepoint-online"],
    )
    make_claim(partner_b, m365_tenant, [products["microsoft-teams"]], name="B's pending claim")
    rejected = make_claim(partner_b, m365_tenant, [products["yammer"]], name="B's rejected claim", status="rejected")
    assert rejected.items.count() == 1
    response = _to_products(wizard, M365_CUSTOMER, {"solution_area": "microsoft_365"})
    options = {
        option.choice_label: label for option, _status, label, _claim in response.context["form"].product_options()
    }
    assert options["Exchange Online"] == "Already yours"
    assert options["SharePoint Online"] == "Held by another partner"
    assert options["Microsoft Teams"] == "Pending"
    assert options["Yammer"] == "Available to claim"
    assert options["OneDrive for Business"] == "Available to claim"
    html = response.content.decode()
    assert "Fabrikam" not in html and "B&#x27;s pending claim" not in html and "B's pending claim" not in html


def test_products_step_availability_per_subscription_and_program(wizard, products, partner_b, bizapps_tenant):
    Association.objects.create(
        partner=partner_b.partner,
        location=partner_b.location,
        program="osa_sell",
        tenant=bizapps_tenant,
        product=products["power-bi-pro"],
        subscription=bizapps_tenant.power_bi_subscription,
    )
    # Held for OSA Sell, free for OSU-Business Applications: a Usage-only claim sees it free.
    response = _to_products(wizard, BIZAPPS_CUSTOMER, BIZ_USAGE)
    options = {o.choice_label: label for o, _s, label, _c in response.context["form"].product_options()}
    assert options["Power BI Pro"] == "Available to claim"
    assert options["Dynamics 365 Finance"] == "Not on this customer's tenant"
    start(wizard)
    response = _to_products(wizard, BIZAPPS_CUSTOMER, {**BIZ_USAGE, "pre_sales": "on"})
    options = {o.choice_label: label for o, _s, label, _c in response.context["form"].product_options()}
    assert options["Power BI Pro"] == "Held by another partner"


def test_products_step_query_count_does_not_grow(
    wizard, products, partner_b, m365_tenant, django_assert_max_num_queries
):
    for _ in range(20):
        make_claim(partner_b, m365_tenant, [products["microsoft-teams"], products["yammer"]])
    post_step(wizard, "customer", M365_CUSTOMER)
    post_step(wizard, "activity", {"solution_area": "microsoft_365"})
    with django_assert_max_num_queries(12):
        response = post_step(wizard, "associate", {"name": "Claim"})
    assert _step(response) == "products"


# --- step 5 ----------------------------------------------------------------------------------------------------


def _to_contacts(client, products, product_codes, customer=M365_CUSTOMER, activity=None):
    _to_products(client, customer, activity or {"solution_area": "microsoft_365"})
    data = {"products": [str(products[code].pk) for code in product_codes]}
    response = post_step(client, "products", data)
    assert _step(response) == "contacts"
    return response


def test_contacts_step_all_fields_required(wizard, products):
    _to_contacts(wizard, products, ["microsoft-teams"])
    response = post_step(wizard, "contacts", {})
    assert response.context["form"].errors == {
        "customer_contact_name": ["Enter the customer's contact name."],
        "customer_contact_title": ["Enter the customer contact's title."],
        "customer_contact_email": ["Enter the customer contact's email address."],
        "partner_contact_name": ["Enter your company's contact name."],
        "partner_contact_email": ["Enter your company's contact email address."],
    }


def test_contacts_step_invalid_emails(wizard, products):
    _to_contacts(wizard, products, ["microsoft-teams"])
    response = post_step(
        wizard, "contacts", {**CONTACTS, "customer_contact_email": "nancy", "partner_contact_email": "pat@"}
    )
    assert response.context["form"].errors == {
        "customer_contact_email": ["Enter a valid email address, like name@example.com."],
        "partner_contact_email": ["Enter a valid email address, like name@example.com."],
    }


def test_contacts_step_technical_contact_only_for_dynamics(wizard, products, bizapps_tenant):
    response = _to_contacts(wizard, products, ["power-bi-pro"], BIZAPPS_CUSTOMER, BIZ_USAGE)
    assert "technical_contact_name" not in response.context["form"].fields
    assert "Technical contact" not in response.content.decode()
    post_step(wizard, "contacts", {}, wizard_goto_step="products")
    response = post_step(wizard, "products", {"products": [str(products["d365-field-service"].pk)]})
    html = response.content.decode()
    assert '<label for="id_contacts-technical_contact_name">Technical contact name</label>' in html
    response = post_step(wizard, "contacts", BIZAPPS_CONTACTS)
    assert response.context["form"].errors == {
        "technical_contact_name": ["Enter the customer's technical contact name."],
        "technical_contact_title": ["Enter the technical contact's title."],
        "technical_contact_email": ["Enter the technical contact's email address."],
    }
    response = post_step(wizard, "contacts", {**BIZAPPS_CONTACTS, **TECHNICAL, "technical_contact_email": "tom"})
    assert _errors(response, "technical_contact_email") == ["Enter a valid email address, like name@example.com."]
    assert _step(post_step(wizard, "contacts", {**BIZAPPS_CONTACTS, **TECHNICAL})) == "poe"


# --- Back ------------------------------------------------------------------------------------------------------


def test_back_keeps_entered_data_on_every_step(wizard, products):
    _to_contacts(wizard, products, ["microsoft-teams", "yammer"])
    # Typed on the contacts step, then Back: what was typed is kept, even though it is incomplete.
    response = post_step(wizard, "contacts", {"customer_contact_name": "Half typed"}, wizard_goto_step="products")
    assert _step(response) == "products"
    assert sorted(response.context["form"]["products"].value()) == sorted(
        [str(products["microsoft-teams"].pk), str(products["yammer"].pk)]
    )
    response = post_step(wizard, "products", {"products": [str(products["yammer"].pk)]}, wizard_goto_step="associate")
    assert response.context["form"]["name"].value() == "Claim"
    response = post_step(wizard, "associate", {"name": "Claim"}, wizard_goto_step="activity")
    response = post_step(wizard, "activity", {"solution_area": "microsoft_365"}, wizard_goto_step="customer")
    assert response.context["form"]["directory_id"].value() == M365_CUSTOMER["directory_id"]
    # Forward again: each step shows what was entered.
    response = post_step(wizard, "customer", M365_CUSTOMER)
    assert response.context["form"]["solution_area"].value() == "microsoft_365"
    response = post_step(wizard, "activity", {"solution_area": "microsoft_365"})
    response = post_step(wizard, "associate", {"name": "Claim"})
    assert response.context["form"]["products"].value() == [str(products["yammer"].pk)]
    response = post_step(wizard, "products", {"products": [str(products["yammer"].pk)]})
    assert response.context["form"]["customer_contact_name"].value() == "Half typed"


def test_back_after_upload_step_keeps_files(wizard, products):
    _to_contacts(wizard, products, ["microsoft-teams"])
    post_step(wizard, "contacts", CONTACTS)
    assert upload(wizard).status_code == 201
    response = post_step(wizard, "poe", {}, wizard_goto_step="contacts")
    assert response.context["form"]["customer_contact_email"].value() == CONTACTS["customer_contact_email"]
    response = post_step(wizard, "contacts", CONTACTS)
    assert _step(response) == "poe"
    assert [u.original_name for u in response.context["form"].uploads()] == ["proof.pdf"]
    assert "proof.pdf" in response.content.decode()
    assert _step(post_step(wizard, "poe", {})) == "review"


def test_goto_a_later_step_is_refused(wizard):
    response = post_step(wizard, "customer", {}, wizard_goto_step="review")
    assert _step(response) == "customer"


def test_review_step_shows_everything(wizard, products):
    _to_contacts(wizard, products, ["microsoft-teams"])
    post_step(wizard, "contacts", CONTACTS)
    upload(wizard, filename="Signed SOW.pdf")
    response = post_step(wizard, "poe", {})
    html = response.content.decode().replace("<wbr>", "")  # domains and emails carry break opportunities
    assert _step(response) == "review"
    for text in [
        "1000001",
        "Northwind Traders",
        "northwindtraders.example",
        M365_CUSTOMER["directory_id"],
        "Microsoft 365",
        "Usage",
        "Microsoft Teams",
        "Nancy Davolio",
        "pat@partner-a.example",
        "Signed SOW.pdf",
        ">Submit claim</button>",
        '<label for="id_review-comments">Comments</label>',
    ]:
        assert text in html
    assert not Claim.objects.exclude(status="draft").exists() and not ClaimItem.objects.exists()
