"""Submitting the wizard: the claim, its items (SPEC §2), documents and first event in one transaction; one claim
per submission key; a storage outage leaves nothing behind."""

import threading
import uuid

import pytest
from botocore.config import Config
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import reverse

from claims.models import Claim, ClaimEvent, ClaimItem, PendingUpload, PoeDocument
from claims.services import PoeStorageError, claim_submit
from claims.services.jobs import task_send_guarded
from claims.tests.wizard_steps import (
    BIZAPPS_CONTACTS,
    BIZAPPS_CUSTOMER,
    TECHNICAL,
    post_step,
    start,
    submit,
    upload,
    walk_m365,
)


def _step(response):
    return response.context["wizard"]["steps"].current


def _claim_validate_registered(callbacks):
    # The callback sends claims.tasks.claim_validate_task by name; the test checks it is registered, not run.
    return [
        cb for cb in callbacks if getattr(cb, "func", None) is task_send_guarded and cb.args == ("claim_validate_task",)
    ]


def test_submit_m365_usage_claim(
    client_a, partner_a, m365_tenant, products, s3_objects, django_capture_on_commit_callbacks
):
    key = walk_m365(client_a, [products["microsoft-teams"], products["exchange-online"]], name="Northwind M365")
    pending = PendingUpload.objects.get()
    with django_capture_on_commit_callbacks() as callbacks:
        response = submit(client_a, key, comments="Deployed Teams in May.")
    claim = Claim.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("claims:detail", args=[claim.pk])
    assert claim.partner == partner_a.partner and claim.location.mpn_id == "1000001"
    assert claim.created_by == partner_a.admin
    assert claim.tenant == m365_tenant
    assert (claim.name, claim.domain, str(claim.directory_id)) == (
        "Northwind M365",
        "northwindtraders.example",
        "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d",
    )
    assert (claim.solution_area, claim.activities, claim.status) == ("microsoft_365", ["usage"], "submitted")
    assert claim.comments == "Deployed Teams in May."
    assert (claim.customer_contact_name, claim.customer_contact_email) == (
        "Nancy Davolio",
        "nancy@northwindtraders.example",
    )
    assert claim.technical_contact_name == "" and claim.partner_contact_email == "pat@partner-a.example"
    assert str(claim.submission_key) == key
    assert sorted(claim.items.values_list("program", "tenant__name", "product__code", "subscription")) == [
        ("osu_m365", "Northwind Traders", "exchange-online", None),
        ("osu_m365", "Northwind Traders", "microsoft-teams", None),
    ]
    document = PoeDocument.objects.get()
    assert (document.claim, document.file.name, document.original_name) == (claim, pending.file.name, "proof.pdf")
    assert (document.content_type, document.size, document.sha256) == ("application/pdf", pending.size, pending.sha256)
    assert not PendingUpload.objects.exists()
    assert s3_objects() == [document.file.name]
    event = ClaimEvent.objects.get()
    assert (event.claim, event.actor, event.user, event.action, event.new_status) == (
        claim,
        "partner",
        partner_a.admin,
        "submitted",
        "submitted",
    )
    assert len(_claim_validate_registered(callbacks)) == 1


def _walk_bizapps(client, products, bizapps_tenant, activity, *, product_codes, chosen=None, name="AW", associate=None):
    key = start(client)
    post_step(client, "customer", BIZAPPS_CUSTOMER)
    assert _step(post_step(client, "activity", activity)) == "associate"
    assert _step(post_step(client, "associate", {"name": name, **(associate or {})})) == "products"
    data = {"products": [str(products[code].pk) for code in product_codes]}
    if chosen:
        data["subscription_d365-sales"] = str(chosen.subscription_id)
    assert _step(post_step(client, "products", data)) == "contacts"
    assert _step(post_step(client, "contacts", {**BIZAPPS_CONTACTS, **TECHNICAL})) == "poe"
    upload(client)
    assert _step(post_step(client, "poe", {})) == "review"
    return key


def test_submit_business_applications_usage_and_pre_sales(
    client_a, products, bizapps_tenant, django_capture_on_commit_callbacks
):
    chosen = bizapps_tenant.sales_subscriptions[1]
    activity = {
        "solution_area": "business_applications",
        "business_activity": "usage_pre_sales",
        "usage": "on",
        "pre_sales": "on",
    }
    key = _walk_bizapps(
        client_a, products, bizapps_tenant, activity, product_codes=["d365-sales", "power-bi-pro"], chosen=chosen
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert submit(client_a, key).status_code == 302
    claim = Claim.objects.get()
    assert claim.activities == ["usage", "pre_sales"]
    assert (claim.technical_contact_name, claim.technical_contact_email) == ("Tom Tech", "tom@adventure-works.example")
    pbi = bizapps_tenant.power_bi_subscription
    assert sorted(claim.items.values_list("program", "product__code", "subscription")) == sorted(
        [
            ("osu_bizapps", "d365-sales", chosen.pk),
            ("osa_sell", "d365-sales", chosen.pk),
            ("osu_bizapps", "power-bi-pro", pbi.pk),
            ("osa_sell", "power-bi-pro", pbi.pk),
        ]
    )
    assert set(claim.items.values_list("tenant", flat=True)) == {bizapps_tenant.pk}
    assert len(_claim_validate_registered(callbacks)) == 1


def test_submit_revenue_association(client_a, products, bizapps_tenant):
    activity = {"solution_area": "business_applications", "business_activity": "revenue_association"}
    associate = {
        "dynamics_seller_name": "Sam Seller",
        "customer_name": "Adventure Works AG",
        "isv_solution_name": "AW ERP+",
    }
    key = _walk_bizapps(
        client_a, products, bizapps_tenant, activity, product_codes=["d365-field-service"], associate=associate
    )
    assert submit(client_a, key).status_code == 302
    claim = Claim.objects.get()
    assert claim.activities == ["revenue_association"]
    assert (claim.dynamics_seller_name, claim.customer_name, claim.isv_solution_name) == (
        "Sam Seller",
        "Adventure Works AG",
        "AW ERP+",
    )
    assert list(claim.items.values_list("program", "subscription")) == [
        ("revenue_association", bizapps_tenant.field_service_subscription.pk)
    ]


def test_submit_twice_creates_one_claim(client_a, products, m365_tenant, s3_objects):
    key = walk_m365(client_a, [products["yammer"]])
    first = submit(client_a, key)
    second = submit(client_a, key)
    claim = Claim.objects.get()
    assert first["Location"] == second["Location"] == reverse("claims:detail", args=[claim.pk])
    assert ClaimEvent.objects.count() == 1 and PoeDocument.objects.count() == 1 and ClaimItem.objects.count() == 1
    assert len(s3_objects()) == 1


def test_claim_submit_same_key_returns_same_claim(client_a, partner_a, products, m365_tenant):
    key = walk_m365(client_a, [products["yammer"]])
    response = submit(client_a, key)
    claim = Claim.objects.get()
    again = claim_submit(
        user=partner_a.admin,
        partner=partner_a.partner,
        data={"location": partner_a.location},
        submission_key=uuid.UUID(key),
    )
    assert again == claim and response.status_code == 302
    assert Claim.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_claim_submit_concurrent_double_click_creates_one_claim(client, partner_a, products, m365_tenant):
    client.force_login(partner_a.admin)
    key = walk_m365(client, [products["yammer"]])
    from claims.wizard import claim_wizard_for

    request = client.get(reverse("claims:list")).wsgi_request
    request.partner = partner_a.partner
    data = {}
    wizard = claim_wizard_for(request)
    for step in wizard.get_form_list():
        data.update(wizard.get_cleaned_data_for_step(step) or {})
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            results.append(
                claim_submit(user=partner_a.admin, partner=partner_a.partner, data=data, submission_key=uuid.UUID(key))
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 2 and results[0].pk == results[1].pk
    assert Claim.objects.count() == 1 and PoeDocument.objects.count() == 1 and ClaimEvent.objects.count() == 1


def _dead_storage(settings):
    """Point the default storage at a port where nothing listens: S3 is down."""
    storages = {**settings.STORAGES}
    options = {**storages["default"]["OPTIONS"]}
    options["endpoint_url"] = "http://127.0.0.1:9"
    options["client_config"] = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1)
    storages["default"] = {**storages["default"], "OPTIONS": options}
    return storages


def test_submit_storage_outage_shows_retryable_error_and_leaves_nothing(
    client_a, products, m365_tenant, s3_objects, settings
):
    key = walk_m365(client_a, [products["yammer"]])
    stored = s3_objects()
    live = settings.STORAGES
    settings.STORAGES = _dead_storage(settings)
    response = submit(client_a, key)
    assert response.status_code == 200
    assert _step(response) == "review"
    assert (
        "The file storage is not available. Nothing was submitted: select Submit claim to try again."
        in response.content.decode()
    )
    assert not Claim.objects.exclude(status="draft").exists()  # the run stays a draft (SPEC §12)
    assert not ClaimItem.objects.exists() and not ClaimEvent.objects.exists()
    assert not PoeDocument.objects.exists() and PendingUpload.objects.count() == 1
    settings.STORAGES = live
    assert s3_objects() == stored
    # The wizard kept everything: submitting again works.
    assert submit(client_a, key).status_code == 302
    assert Claim.objects.count() == 1 and PoeDocument.objects.get().file.name == stored[0]


def test_submit_missing_object_is_refused(client_a, products, m365_tenant, s3_objects):
    key = walk_m365(client_a, [products["yammer"]])
    default_storage.delete(PendingUpload.objects.get().file.name)
    response = submit(client_a, key)
    assert "“proof.pdf” is no longer available. Remove it and upload it again." in response.content.decode()
    assert not Claim.objects.exclude(status="draft").exists() and not PoeDocument.objects.exists()


def test_claim_submit_refuses_another_partners_location(partner_a, partner_b):
    with pytest.raises(Exception, match="not one of your organization's locations"):
        claim_submit(
            user=partner_a.admin,
            partner=partner_a.partner,
            data={"location": partner_b.location},
            submission_key=uuid.uuid4(),
        )


def test_claim_submit_without_uploads_raises(client_a, partner_a, products, m365_tenant):
    with pytest.raises(PoeStorageError):
        claim_submit(
            user=partner_a.admin,
            partner=partner_a.partner,
            data={"location": partner_a.location},
            submission_key=uuid.uuid4(),
        )
    assert not Claim.objects.exists()


def test_submit_revalidates_every_step(client_a, products, m365_tenant):
    key = walk_m365(client_a, [products["yammer"]])
    m365_tenant.licenses.filter(product=products["yammer"]).delete()
    response = submit(client_a, key)
    assert _step(response) == "products"
    assert "Yammer is not on this customer&#x27;s tenant." in response.content.decode()
    assert not Claim.objects.exclude(status="draft").exists()


def test_submit_with_the_broker_down_still_submits_and_shows_the_claim(
    client_a, m365_tenant, products, django_capture_on_commit_callbacks
):
    # A lost broker must not turn a saved claim into an error page: PostgreSQL holds the claim, and the periodic
    # claims_requeue_unvalidated job enqueues its validation once the broker is back.
    from cpor.celery import app

    def use_broker(read_url, write_url):
        app.conf.broker_url, app.conf.broker_write_url = read_url, write_url
        app._pool = None  # the next publish opens new pools on these URLs
        app.amqp._producer_pool = None

    key = walk_m365(client_a, [products["yammer"]])
    live = (app.conf.broker_url, app.conf.broker_write_url)
    use_broker("redis://127.0.0.1:9/0", "redis://127.0.0.1:9/0")  # nothing listens there: connection refused
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = submit(client_a, key)
    finally:
        use_broker(*live)

    claim = Claim.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("claims:detail", args=[claim.pk])
    assert claim.status == "submitted"
    assert _claim_validate_registered(callbacks)
