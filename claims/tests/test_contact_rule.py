"""The customer's notice cannot be steered (SPEC §5, §14): the customer contact's address, and for Dynamics 365 the
technical contact's (who also receives the notice), must be at one of the tenant's domains or a subdomain of one.
Checked on the wizard's contacts step, where the partner types it, and again by automatic validation."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from associations.tests.fixtures import make_tenant
from associations.validators import email_domain_within, normalize_domain
from claims.models import Claim, ClaimStatus, PendingUpload
from claims.services import claim_validate, claims_validate
from claims.tests.factories import claim_make
from claims.tests.wizard_steps import (
    BIZAPPS_CONTACTS,
    BIZAPPS_CUSTOMER,
    CONTACTS,
    M365_CUSTOMER,
    TECHNICAL,
    post_step,
    start,
    submit,
    upload,
)

pytestmark = pytest.mark.django_db

CONTOSO = ["contoso.onmicrosoft.com", "contoso.com"]


@pytest.mark.parametrize(
    "email, inside",
    [
        ("dana@contoso.com", True),
        ("dana@contoso.onmicrosoft.com", True),
        ("dana@mail.contoso.com", True),
        ("dana@a.b.contoso.com", True),
        ("Dana@CONTOSO.COM", True),
        ("dana@contoso.com.", True),
        ('"dana@evil.example"@contoso.com', True),
        ("dana@evilcontoso.com", False),
        ("dana@contoso.com.evil.example", False),
        ("dana@contoso.co", False),
        ("dana@com", False),
        ("dana@onmicrosoft.com", False),
        ("dana@evil.example", False),
        ("contoso.com@evil.example", False),
        ("dana@contoso.com@evil.example", False),
        ("dana@[192.0.2.1]", False),
        ("dana", False),
        ("@contoso.com", False),
        ("", False),
        (None, False),
    ],
)
def test_contact_rule_email_domain_within(email, inside):
    assert email_domain_within(email, CONTOSO) is inside


def test_contact_rule_internationalized_domains_match_in_either_form():
    assert normalize_domain("Bücher.Example.") == "xn--bcher-kva.example"
    assert email_domain_within("anna@bücher.example", ["xn--bcher-kva.example"])
    assert email_domain_within("anna@vertrieb.BÜCHER.example", ["xn--bcher-kva.example"])
    assert email_domain_within("anna@xn--bcher-kva.example", ["bücher.example"])
    assert not email_domain_within("anna@bucher.example", ["xn--bcher-kva.example"])


# --- automatic validation ---------------------------------------------------------------------------------------


def _reasons(claim):
    claim_validate(claim_id=claim.pk)
    claim.refresh_from_db()
    return claim.rejection_reasons


def test_contact_rule_validation_rejects_a_customer_contact_outside_the_tenant(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        customer_contact_email="dana@northwindtraders.example.partner-a.example",
    )

    assert _reasons(claim) == [
        "The customer contact's email address dana@northwindtraders.example.partner-a.example must be at the "
        "customer's domain (northwindtraders.onmicrosoft.com or a subdomain of one of its domains)."
    ]
    assert claim.status == ClaimStatus.REJECTED


@pytest.mark.parametrize(
    "email",
    ["dana@northwindtraders.example", "dana@it.northwindtraders.example", "DANA@NorthwindTraders.OnMicrosoft.com"],
)
def test_contact_rule_validation_accepts_any_tenant_domain_or_subdomain(partner_a, m365_tenant, products, email):
    claim = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], customer_contact_email=email
    )

    assert _reasons(claim) == []
    assert claim.status == ClaimStatus.UNDER_REVIEW


def test_contact_rule_validation_checks_the_dynamics_technical_contact(partner_a, bizapps_tenant):
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        technical_contact_email="toni@adventure-works.example.evil.example",
    )

    assert _reasons(claim) == [
        "The customer's technical contact's email address toni@adventure-works.example.evil.example must be at "
        "the customer's domain (adventureworks.onmicrosoft.com or a subdomain of one of its domains)."
    ]


def test_contact_rule_validation_ignores_a_technical_contact_nobody_emails(partner_a, bizapps_tenant):
    # Power BI is not Dynamics 365: no technical contact, and nothing is sent to one.
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.power_bi_subscription],
        technical_contact_email="toni@elsewhere.example",
    )

    assert _reasons(claim) == []


def test_contact_rule_validation_lets_the_partner_contact_be_anywhere(partner_a, m365_tenant, products):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        partner_contact_email="pat@partner-a.example",
    )

    assert _reasons(claim) == []


def test_contact_rule_validation_uses_every_domain_of_each_tenant_in_a_batch(partner_a, products):
    tenants = [
        make_tenant(
            f"Batch {i}",
            domains=[f"batch{i}.onmicrosoft.com", f"batch{i}.example", f"batch{i}-eu.example"],
            workloads=["yammer"],
            products=products,
        )
        for i in range(3)
    ]

    def claim_for(tenant, email):
        return claim_make(partner_a, tenant=tenant, products=[products["yammer"]], customer_contact_email=email)

    good = claim_for(tenants[0], "dana@sales.batch0-eu.example")
    other_tenants_domain = claim_for(tenants[1], "dana@batch2.example")
    also_good = claim_for(tenants[2], "dana@batch2.onmicrosoft.com")

    with CaptureQueriesContext(connection) as three:
        outcome = claims_validate(claim_ids=[good.pk, other_tenants_domain.pk, also_good.pk])

    assert outcome == {
        good.pk: ClaimStatus.UNDER_REVIEW,
        other_tenants_domain.pk: ClaimStatus.REJECTED,
        also_good.pk: ClaimStatus.UNDER_REVIEW,
    }
    other_tenants_domain.refresh_from_db()
    assert other_tenants_domain.rejection_reasons == [
        "The customer contact's email address dana@batch2.example must be at the customer's domain "
        "(batch1.onmicrosoft.com or a subdomain of one of its domains)."
    ]
    # One query reads every domain of the batch's tenants: no query per claim or per tenant.
    domain_queries = [q["sql"] for q in three.captured_queries if 'FROM "associations_tenantdomain"' in q["sql"]]
    assert len(domain_queries) == 1


# --- the wizard's contacts step -----------------------------------------------------------------------------------


def _step(response):
    return response.context["wizard"]["steps"].current


def _to_contacts(client, products, customer, activity, product_ids):
    start(client)
    assert _step(post_step(client, "customer", customer)) == "activity"
    assert _step(post_step(client, "activity", activity)) == "associate"
    assert _step(post_step(client, "associate", {"name": "Contacts"})) == "products"
    response = post_step(client, "products", {"products": product_ids})
    assert _step(response) == "contacts"
    return response


def _m365_to_contacts(client, products):
    return _to_contacts(client, products, M365_CUSTOMER, {"solution_area": "microsoft_365"}, [products["yammer"].pk])


def test_contact_rule_wizard_refuses_a_customer_contact_outside_the_tenant(client_a, m365_tenant, products):
    _m365_to_contacts(client_a, products)

    response = post_step(client_a, "contacts", {**CONTACTS, "customer_contact_email": "nancy@partner-a.example"})

    assert _step(response) == "contacts"
    assert response.context["form"].errors == {
        "customer_contact_email": [
            "Enter an address at the customer's domain (northwindtraders.example or a subdomain of one of its "
            "domains): the customer's notice goes to this address."
        ]
    }
    html = response.content.decode()
    assert "Enter an address at the customer&#x27;s domain (northwindtraders.example" in html
    assert "An address at northwindtraders.example or another of the customer&#x27;s domains" in html


@pytest.mark.parametrize(
    "email",
    ["nancy@northwindtraders.example", "nancy@hq.northwindtraders.example", "Nancy@NORTHWINDTRADERS.onmicrosoft.com"],
)
def test_contact_rule_wizard_accepts_tenant_domains_and_subdomains(client_a, m365_tenant, products, email):
    _m365_to_contacts(client_a, products)

    response = post_step(client_a, "contacts", {**CONTACTS, "customer_contact_email": email})

    assert _step(response) == "poe", response.context["form"].errors


def test_contact_rule_wizard_refuses_a_dynamics_technical_contact_outside_the_tenant(
    client_a, bizapps_tenant, products
):
    activity = {"solution_area": "business_applications", "business_activity": "usage_pre_sales", "usage": "on"}
    _to_contacts(client_a, products, BIZAPPS_CUSTOMER, activity, [products["d365-field-service"].pk])

    response = post_step(
        client_a,
        "contacts",
        {**BIZAPPS_CONTACTS, **TECHNICAL, "technical_contact_email": "tom@adventure-works.example.evil.example"},
    )

    assert response.context["form"].errors == {
        "technical_contact_email": [
            "Enter an address at the customer's domain (adventure-works.example or a subdomain of one of its "
            "domains): the customer's notice goes to this address."
        ]
    }
    response = post_step(client_a, "contacts", {**BIZAPPS_CONTACTS, **TECHNICAL})
    assert _step(response) == "poe"


def test_contact_rule_wizard_contacts_step_reads_the_domains_with_the_tenant(client_a, m365_tenant, products):
    # The tenant's domains come with the customer step's one tenant query: the contacts step adds none.
    _m365_to_contacts(client_a, products)

    with CaptureQueriesContext(connection) as captured:
        response = post_step(client_a, "contacts", CONTACTS)

    assert _step(response) == "poe"
    sql = [q["sql"] for q in captured.captured_queries]
    assert sum(bool(re.search(r'FROM "associations_tenant"(\s|$)', s)) for s in sql) == 1
    assert not [s for s in sql if s.startswith('SELECT "associations_tenantdomain"')]


def test_contact_rule_wizard_submit_checks_the_contacts_against_the_current_customer(client_a, m365_tenant, products):
    # Contacts entered for Northwind; then Back to step 1, another customer, and the final submit posted straight
    # away (a crafted request): switching the customer cleared the contacts and the POE (SPEC §13), and the submit
    # checks every step again, so it stops at the contacts step, empty.
    tailspin = make_tenant("Tailspin", domains=["tailspin.example"], workloads=["yammer"], products=products)
    key = start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    post_step(client_a, "activity", {"solution_area": "microsoft_365"})
    post_step(client_a, "associate", {"name": "Switch"})
    post_step(client_a, "products", {"products": [products["yammer"].pk]})
    assert _step(post_step(client_a, "contacts", CONTACTS)) == "poe"
    assert upload(client_a).status_code == 201
    assert _step(post_step(client_a, "poe", {})) == "review"
    post_step(client_a, "review", {}, wizard_goto_step="customer")
    customer = {"location": "1000001", "domain": "tailspin.example", "directory_id": str(tailspin.directory_id)}
    assert _step(post_step(client_a, "customer", customer)) == "activity"

    response = submit(client_a, key)

    assert not Claim.objects.exclude(status="draft").exists()
    assert response.status_code == 200 and _step(response) == "contacts"
    assert not response.context["form"].is_bound
    assert not PendingUpload.objects.exists()
