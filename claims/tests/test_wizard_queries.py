"""SQL queries of every wizard step (SPEC §11: at most 12, not growing with the data).

Each step is what Continue answers: the POST of the step before it, with the earlier steps in the session. Showing
a step needs the cleaned data of earlier ones (the products step the customer's tenant, the contacts step the
chosen products); each step is validated at most once per request, also after formtools forgets its own cache on a
valid POST. Counts here leave out the SAVEPOINT/RELEASE pair that the test's own transaction adds around the
session save (outside a test, that save is a transaction of its own: no statement more). Since drafts (SPEC §12)
and the navigation's "Needs your action" count, a step makes 11 statements: the draft's save and the count are
two of them.
"""

import contextlib

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from associations.models import Association, Program
from claims.models import Claim
from claims.tests.wizard_steps import (
    BIZAPPS_CONTACTS,
    BIZAPPS_CUSTOMER,
    CONTACTS,
    M365_CUSTOMER,
    TECHNICAL,
    make_claim,
    post_step,
    start,
    submit,
    upload,
    wizard_url,
)

BIZ_USAGE = {"solution_area": "business_applications", "business_activity": "usage_pre_sales", "usage": "on"}


def _step(response):
    return response.context["wizard"]["steps"].current


def _m365_steps(products):
    return [
        ("customer", M365_CUSTOMER, "activity"),
        ("activity", {"solution_area": "microsoft_365"}, "associate"),
        ("associate", {"name": "Northwind"}, "products"),
        ("products", {"products": [str(products["yammer"].pk), str(products["microsoft-teams"].pk)]}, "contacts"),
        ("contacts", CONTACTS, "poe"),
        ("poe", {}, "review"),
    ]


def _bizapps_steps(products, subscription):
    # The most work per step: two Dynamics 365 Sales subscriptions (a subscription choice), a technical contact.
    sales = products["d365-sales"]
    return [
        ("customer", BIZAPPS_CUSTOMER, "activity"),
        ("activity", {**BIZ_USAGE, "pre_sales": "on"}, "associate"),
        ("associate", {"name": "Adventure Works"}, "products"),
        (
            "products",
            {
                "products": [str(sales.pk), str(products["power-bi-pro"].pk)],
                "subscription_d365-sales": str(subscription.subscription_id),
            },
            "contacts",
        ),
        ("contacts", {**BIZAPPS_CONTACTS, **TECHNICAL}, "poe"),
        ("poe", {}, "review"),
    ]


BAR = 12


def _statements(captured):
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


@contextlib.contextmanager
def _within_bar():
    with CaptureQueriesContext(connection) as captured:
        yield captured
    statements = _statements(captured)
    assert len(statements) <= BAR, f"{len(statements)} statements:\n" + "\n".join(s[:200] for s in statements)


def _walk(client, steps):
    """Open the wizard and Continue through ``steps``; each answer within the bar. Returns the counts."""
    counts = []
    with _within_bar() as captured:
        response = client.get(wizard_url())
    assert response.status_code == 200 and _step(response) == "customer"
    counts.append(len(_statements(captured)))
    for step, fields, shown in steps:
        if step == "poe":
            assert upload(client).status_code == 201
        with _within_bar() as captured:
            response = post_step(client, step, fields)
        assert response.status_code == 200
        assert _step(response) == shown, response.context["form"].errors
        counts.append(len(_statements(captured)))
    return counts


def _crowd(partner_b, tenant, products, n):
    """Another partner's claims (open and official, with associations) on the tenant: data the steps look at."""
    for index in range(n):
        status = Claim.Status.OFFICIAL if index % 2 else Claim.Status.SUBMITTED
        make_claim(partner_b, tenant, products, name=f"B {index}", status=status)


def test_wizard_queries_m365_every_step_within_bar(client_a, m365_tenant, products):
    counts = _walk(client_a, _m365_steps(products))
    assert len(counts) == 7


def test_wizard_queries_bizapps_every_step_within_bar(client_a, bizapps_tenant, products):
    steps = _bizapps_steps(products, bizapps_tenant.sales_subscriptions[1])
    counts = _walk(client_a, steps)
    assert len(counts) == 7


def test_wizard_queries_do_not_grow_with_the_data(partner_a, partner_b, m365_tenant, products):
    few = Client()
    few.force_login(partner_a.admin)
    before = _walk(few, _m365_steps(products))
    workloads = [products["yammer"], products["microsoft-teams"], products["exchange-online"]]
    _crowd(partner_b, m365_tenant, workloads, 40)
    Association.objects.create(
        partner=partner_b.partner,
        location=partner_b.location,
        program=Program.OSU_M365,
        tenant=m365_tenant,
        product=products["exchange-online"],
    )
    many = Client()
    many.force_login(partner_a.admin)
    after = _walk(many, _m365_steps(products))
    assert after == before


def test_wizard_queries_continue_validates_earlier_steps_once(client_a, m365_tenant, products):
    # Showing the contacts step needs the products step's cleaned data, which needs the customer step's tenant:
    # each lookup runs once in that request, not again after formtools empties its cache on the valid POST.
    steps = _m365_steps(products)
    start(client_a)
    for step, fields, _ in steps[:3]:
        post_step(client_a, step, fields)
    with CaptureQueriesContext(connection) as captured:
        response = post_step(client_a, *steps[3][:2])
    assert _step(response) == "contacts"
    sql = [query["sql"] for query in captured.captured_queries]
    assert sum('FROM "associations_tenant"' in s for s in sql) == 1
    assert sum('FROM "associations_partnerlocation"' in s for s in sql) == 1
    assert sum('FROM "associations_product"' in s for s in sql) == 1
    assert sum('FROM "associations_tenantlicense"' in s for s in sql) == 1


def test_wizard_queries_back_then_continue_sees_the_new_customer(client_a, m365_tenant, bizapps_tenant, products):
    # The per-request memo is keyed by the data of the step and of every step before it: a customer changed
    # with Back shows the new tenant's products, never the first one's.
    start(client_a)
    for step, fields, _ in _m365_steps(products)[:3]:
        post_step(client_a, step, fields)
    response = post_step(client_a, "associate", {"name": "Northwind"}, wizard_goto_step="customer")
    assert _step(response) == "customer"
    assert _step(post_step(client_a, "customer", BIZAPPS_CUSTOMER)) == "activity"
    assert _step(post_step(client_a, "activity", BIZ_USAGE)) == "associate"
    response = post_step(client_a, "associate", {"name": "Adventure Works"})
    assert _step(response) == "products"
    form = response.context["form"]
    assert form.tenant == bizapps_tenant
    assert list(form.multi_subscription_fields) == ["subscription_d365-sales"]


def test_wizard_queries_submit_does_not_grow_with_the_data(partner_a, partner_b, m365_tenant, products):
    # The submit writes the claim, its items, document and event (more than a page shows) and validates every
    # step again against the database: each step once, whatever the data around it.
    def submit_queries(codes):
        wizard = Client()
        wizard.force_login(partner_a.admin)
        key = start(wizard)
        steps = _m365_steps(products)
        steps[3] = ("products", {"products": [str(products[code].pk) for code in codes]}, "contacts")
        for step, fields, _ in steps:
            if step == "poe":
                assert upload(wizard).status_code == 201
            post_step(wizard, step, fields)
        with CaptureQueriesContext(connection) as captured:
            response = submit(wizard, key)
        assert response.status_code == 302
        assert Claim.objects.get(submission_key=key).items.count() == 2
        return len(captured)

    first = submit_queries(["yammer", "microsoft-teams"])
    _crowd(partner_b, m365_tenant, [products["exchange-online"], products["sharepoint-online"]], 30)
    assert submit_queries(["exchange-online", "sharepoint-online"]) == first
