"""Drafts (SPEC §12): the wizard's run is a draft claim from the first Continue, with no history; it resumes in
another session; the list offers Continue editing and Delete draft and a Draft filter; a draft is never pending
for others; 30 days untouched it expires and its files go; Copy into a new claim."""

import datetime
import json
import uuid

import pytest
from django.db import IntegrityError, InternalError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from associations.tests.fixtures import make_user
from claims.models import Claim, ClaimEvent, ClaimStatus, PendingUpload, PoeDocument
from claims.selectors import Availability
from claims.services import pending_uploads_purge
from claims.services.drafts import ClaimNotCopyable, claim_copy_to_draft, claims_expire_drafts
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
    wizard_url,
)

BIZ_BOTH = {
    "solution_area": "business_applications",
    "business_activity": "usage_pre_sales",
    "usage": "on",
    "pre_sales": "on",
}


def _step(response):
    return response.context["wizard"]["steps"].current


def _draft():
    return Claim.objects.get(status=ClaimStatus.DRAFT)


def _edit_url(claim):
    return reverse("claims:draft_edit", args=[claim.pk])


def _walk_to_poe(client, products):
    """Steps 1 to 5 and one upload: the wizard stands on the POE step. Returns the run's submission key."""
    key = start(client)
    assert _step(post_step(client, "customer", M365_CUSTOMER)) == "activity"
    assert _step(post_step(client, "activity", {"solution_area": "microsoft_365"})) == "associate"
    assert _step(post_step(client, "associate", {"name": "Northwind draft"})) == "products"
    assert _step(post_step(client, "products", {"products": [str(products["yammer"].pk)]})) == "contacts"
    assert _step(post_step(client, "contacts", CONTACTS)) == "poe"
    assert upload(client).status_code == 201
    return key


# --- the draft is saved from the first Continue ------------------------------------------------------------------


def test_drafts_opening_the_wizard_creates_no_draft(client_a, m365_tenant):
    start(client_a)
    post_step(client_a, "customer", {**M365_CUSTOMER, "directory_id": "not a guid"})
    assert not Claim.objects.exists()


def test_drafts_first_continue_creates_the_draft_without_history(client_a, partner_a, m365_tenant):
    key = start(client_a)
    assert _step(post_step(client_a, "customer", M365_CUSTOMER)) == "activity"
    draft = _draft()
    assert str(draft.submission_key) == key
    assert (draft.partner, draft.location, draft.created_by) == (partner_a.partner, partner_a.location, partner_a.admin)
    assert (draft.domain, str(draft.directory_id), draft.tenant) == (
        "northwindtraders.example",
        M365_CUSTOMER["directory_id"],
        m365_tenant,
    )
    assert draft.draft_data["step"] == "activity"
    assert draft.draft_data["step_data"]["customer"]["customer-domain"] == ["northwindtraders.example"]
    assert "csrfmiddlewaretoken" not in draft.draft_data["step_data"]["customer"]
    assert draft.draft_data["extra_data"]["submission_key"] == key
    assert not ClaimEvent.objects.exists() and not draft.items.exists()


def test_drafts_each_continue_and_back_saves_the_draft(client_a, m365_tenant):
    start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    first_saved = _draft().draft_saved_at
    post_step(client_a, "activity", {"solution_area": "microsoft_365"})
    post_step(client_a, "associate", {"name": "Northwind M365"})
    draft = _draft()
    assert (draft.name, draft.solution_area, draft.activities) == ("Northwind M365", "microsoft_365", ["usage"])
    assert draft.draft_data["step"] == "products" and draft.draft_saved_at > first_saved
    # Back keeps what was typed on the step, and the draft has it.
    post_step(client_a, "products", {"products": []}, wizard_goto_step="associate")
    draft = _draft()
    assert draft.draft_data["step"] == "associate"
    assert "products" in draft.draft_data["step_data"]
    assert Claim.objects.count() == 1 and not ClaimEvent.objects.exists()


def test_drafts_resume_in_a_fresh_session_at_the_saved_step_with_data_and_uploads(
    client, partner_a, m365_tenant, products, s3_objects
):
    client.force_login(partner_a.admin)
    key = _walk_to_poe(client, products)
    client.logout()

    other = Client()  # another device: no session of the first one
    other.force_login(partner_a.admin)
    draft = _draft()
    response = other.get(_edit_url(draft))
    assert response.status_code == 200
    assert _step(response) == "poe"
    assert response.context["submission_key"] == key
    assert "proof.pdf" in response.content.decode()
    assert _step(post_step(other, "poe", {})) == "review"
    response = post_step(other, "review", {}, wizard_goto_step="poe")
    response = post_step(other, "poe", {}, wizard_goto_step="contacts")
    assert response.context["form"]["customer_contact_name"].value() == CONTACTS["customer_contact_name"]
    for step, fields in [("contacts", CONTACTS), ("poe", {})]:
        post_step(other, step, fields)
    response = submit(other, key, comments="Resumed.")
    claim = Claim.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("claims:detail", args=[claim.pk])
    assert claim.pk == draft.pk and claim.status == ClaimStatus.SUBMITTED
    assert claim.draft_data == {} and claim.comments == "Resumed."
    assert (claim.name, claim.customer_contact_email) == ("Northwind draft", CONTACTS["customer_contact_email"])
    assert list(claim.items.values_list("product__code", flat=True)) == ["yammer"]
    document = PoeDocument.objects.get(claim=claim)
    assert s3_objects() == [document.file.name] and not PendingUpload.objects.exists()
    event = ClaimEvent.objects.get()
    assert (event.action, event.old_status, event.new_status, event.user) == (
        "submitted",
        "draft",
        "submitted",
        partner_a.admin,
    )
    # The old device's page replayed: the claim, not a second one.
    assert submit(client_login(partner_a), key).status_code == 302
    assert Claim.objects.count() == 1


def client_login(actor):
    client = Client()
    client.force_login(actor.admin)
    return client


def test_drafts_submitted_row_is_frozen_afterwards(client_a, m365_tenant, products):
    key = _walk_to_poe(client_a, products)
    post_step(client_a, "poe", {})
    submit(client_a, key)
    claim = Claim.objects.get()
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(draft_data={"step": "customer"})


def test_drafts_edit_is_scoped_to_the_partner_and_its_admins(client, partner_a, partner_b, m365_tenant, products):
    other_draft = claim_make(partner_b, tenant=m365_tenant, status=ClaimStatus.DRAFT, documents=())
    client.force_login(partner_a.admin)
    assert client.get(_edit_url(other_draft)).status_code == 404
    assert client.post(_edit_url(other_draft), {"claim_wizard-current_step": "customer"}).status_code == 404
    assert client.get(reverse("claims:draft_delete", args=[other_draft.pk])).status_code == 404
    assert client.post(reverse("claims:draft_delete", args=[other_draft.pk])).status_code == 404
    own = claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.DRAFT, documents=())
    viewer = Client()
    viewer.force_login(partner_a.viewer)
    assert viewer.get(_edit_url(own)).status_code == 403
    assert viewer.post(reverse("claims:draft_delete", args=[own.pk])).status_code == 403
    assert Claim.objects.filter(pk__in=[own.pk, other_draft.pk]).count() == 2


def test_drafts_edit_of_a_submitted_claim_goes_to_its_page(client_a, partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], documents=())
    response = client_a.get(_edit_url(claim))
    assert response.status_code == 302 and response["Location"] == reverse("claims:detail", args=[claim.pk])


def test_drafts_detail_page_of_a_draft_continues_editing(client_a, partner_a, m365_tenant):
    draft = claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.DRAFT, documents=())
    response = client_a.get(reverse("claims:detail", args=[draft.pk]))
    assert response.status_code == 302 and response["Location"] == _edit_url(draft)


def test_drafts_deleted_elsewhere_ends_the_run(client_a, partner_a, m365_tenant):
    start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    draft = _draft()
    assert client_login(partner_a).post(reverse("claims:draft_delete", args=[draft.pk])).status_code == 302
    response = post_step(client_a, "activity", {"solution_area": "microsoft_365"})
    assert response.status_code == 302 and response["Location"] == reverse("claims:list")
    assert not Claim.objects.exists()


# --- the list --------------------------------------------------------------------------------------------------


def test_drafts_list_shows_continue_editing_delete_and_the_draft_chip(client_a, partner_a, m365_tenant, products):
    start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    post_step(client_a, "activity", {"solution_area": "microsoft_365"})
    post_step(client_a, "associate", {"name": "My draft"})
    draft = _draft()
    submitted = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], name="Sent one")
    html = client_a.get(reverse("claims:list")).content.decode()
    assert ">Draft</span>" in html
    assert f'href="{_edit_url(draft)}"' in html and ">Continue editing</a>" in html
    assert f'href="{reverse("claims:draft_delete", args=[draft.pk])}"' in html and ">Delete draft</a>" in html
    assert 'data-status="draft">Draft <strong>1</strong>' in html
    response = client_a.get(reverse("claims:list"), {"status": "draft"})
    assert [claim.pk for claim, _ in response.context["rows"]] == [draft.pk]
    response = client_a.get(reverse("claims:list"), {"status": "submitted"})
    assert [claim.pk for claim, _ in response.context["rows"]] == [submitted.pk]


def test_drafts_list_for_a_viewer_has_no_draft_actions(client, partner_a, m365_tenant):
    claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.DRAFT, documents=(), name="Viewer sees")
    client.force_login(partner_a.viewer)
    html = client.get(reverse("claims:list")).content.decode()
    assert "Viewer sees" in html and "Continue editing" not in html and "Delete draft" not in html


def test_drafts_list_zh_hant(client_a, partner_a, m365_tenant):
    claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.DRAFT, documents=())
    html = client_a.get(reverse("claims:list"), HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "草稿" in html and "繼續編輯" in html and "刪除草稿" in html


# --- delete ----------------------------------------------------------------------------------------------------


def test_drafts_delete_removes_row_uploads_and_files(client_a, partner_a, m365_tenant, products, s3_objects):
    _walk_to_poe(client_a, products)
    assert upload(client_a, filename="second.pdf").status_code == 201
    draft = _draft()
    assert len(s3_objects()) == 2 and PendingUpload.objects.count() == 2
    url = reverse("claims:draft_delete", args=[draft.pk])
    confirm = client_a.get(url)
    assert confirm.status_code == 200 and "Northwind draft" in confirm.content.decode()
    assert Claim.objects.filter(pk=draft.pk).exists()  # GET only asks
    response = client_a.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("claims:list")
    assert not Claim.objects.exists() and not PendingUpload.objects.exists() and s3_objects() == []
    assert client_a.post(url).status_code == 404  # the second click finds nothing


def test_drafts_delete_of_a_submitted_claim_is_refused(client_a, partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])
    assert client_a.post(reverse("claims:draft_delete", args=[claim.pk])).status_code == 404
    assert client_a.get(reverse("claims:draft_delete", args=[claim.pk])).status_code == 404
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).delete()
    assert Claim.objects.filter(pk=claim.pk).exists()


def test_drafts_delete_wrong_method(client_a, partner_a, m365_tenant):
    draft = claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.DRAFT, documents=())
    assert client_a.put(reverse("claims:draft_delete", args=[draft.pk])).status_code == 405
    assert client_a.get(reverse("claims:copy", args=[draft.pk])).status_code == 405


# --- availability -----------------------------------------------------------------------------------------------


def test_drafts_never_count_as_pending_for_another_partner(client, partner_a, partner_b, m365_tenant, products):
    client.force_login(partner_a.admin)
    _walk_to_poe(client, products)  # partner A's draft has picked Yammer
    assert not _draft().items.exists()
    other = client_login(partner_b)
    start(other)
    post_step(other, "customer", {**M365_CUSTOMER, "location": partner_b.location.mpn_id})
    post_step(other, "activity", {"solution_area": "microsoft_365"})
    response = post_step(other, "associate", {"name": "B"})
    assert response.context["form"].availability[products["yammer"].pk] == Availability.FREE


# --- expiry ----------------------------------------------------------------------------------------------------


def test_drafts_expire_after_30_days_and_their_files_go(client, partner_a, m365_tenant, products, s3_objects):
    client.force_login(partner_a.admin)
    _walk_to_poe(client, products)
    old = _draft()
    fresh_client = client_login(partner_a)
    start(fresh_client)
    post_step(fresh_client, "customer", M365_CUSTOMER)
    fresh = Claim.objects.exclude(pk=old.pk).get()
    now = timezone.now()
    Claim.objects.filter(pk=old.pk).update(draft_saved_at=now - datetime.timedelta(days=30, minutes=1))
    Claim.objects.filter(pk=fresh.pk).update(draft_saved_at=now - datetime.timedelta(days=29, hours=23))
    assert len(s3_objects()) == 1

    assert claims_expire_drafts(now=now) == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, fresh.status) == (ClaimStatus.EXPIRED, ClaimStatus.DRAFT)
    event = ClaimEvent.objects.get()
    assert (event.claim, event.actor, event.action, event.old_status, event.new_status) == (
        old,
        "system",
        "expired",
        "draft",
        "expired",
    )
    assert not PendingUpload.objects.exists() and s3_objects() == []
    assert claims_expire_drafts(now=now) == 0  # a second run changes nothing
    assert ClaimEvent.objects.count() == 1
    # Expired is final: the draft no longer opens in the wizard, and its page offers Copy into a new claim.
    response = client.get(_edit_url(old))
    assert response.status_code == 302 and response["Location"] == reverse("claims:detail", args=[old.pk])
    html = client.get(reverse("claims:detail", args=[old.pk])).content.decode()
    assert "Expired" in html and "Copy into a new claim" in html
    assert "The proof of execution is not copied: add it again." in html


def test_drafts_abandoned_upload_purge_keeps_a_live_drafts_uploads(client_a, partner_a, m365_tenant, products):
    _walk_to_poe(client_a, products)
    stray = Client()
    stray.force_login(partner_a.admin)
    start(stray)  # a run that never continued: its upload has no draft
    assert upload(stray).status_code == 201
    PendingUpload.objects.update(created_at=timezone.now() - datetime.timedelta(days=3))
    draft_key = str(_draft().submission_key)
    assert pending_uploads_purge(older_than=datetime.timedelta(days=1)) == 1
    assert list(PendingUpload.objects.values_list("wizard_key", flat=True)) == [draft_key]


# --- Copy into a new claim -------------------------------------------------------------------------------------


def _copy(client, claim):
    return client.post(reverse("claims:copy", args=[claim.pk]))


@pytest.mark.parametrize(
    ("status", "fields", "allowed"),
    [
        (ClaimStatus.REJECTED, {"status_changed_at": timezone.now() - datetime.timedelta(days=31)}, True),
        (ClaimStatus.REJECTED, {"status_changed_at": timezone.now() - datetime.timedelta(days=29)}, False),
        (ClaimStatus.REJECTED_FINAL, {}, True),
        (ClaimStatus.EXPIRED, {}, True),
        (ClaimStatus.SUBMITTED, {}, False),
        (ClaimStatus.OFFICIAL, {}, False),
    ],
)
def test_drafts_copy_allowed_statuses(client_a, partner_a, m365_tenant, products, status, fields, allowed):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=status, **fields)
    page = client_a.get(reverse("claims:detail", args=[claim.pk])).content.decode()
    assert ("Copy into a new claim" in page) is allowed
    response = _copy(client_a, claim)
    assert response.status_code == 302
    drafts = Claim.objects.filter(status=ClaimStatus.DRAFT)
    if allowed:
        draft = drafts.get()
        assert response["Location"] == _edit_url(draft)
        assert draft.submission_key != claim.submission_key
    else:
        assert response["Location"] == reverse("claims:detail", args=[claim.pk]) and not drafts.exists()


def test_drafts_copy_of_a_disputed_rejection_is_allowed_at_once(partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.REJECTED)
    with pytest.raises(ClaimNotCopyable):
        claim_copy_to_draft(claim=claim, user=partner_a.admin)
    claim.disputed_at = timezone.now()  # disputed once already (and rejected again): no second dispute
    assert claim_copy_to_draft(claim=claim, user=partner_a.admin).status == ClaimStatus.DRAFT


def test_drafts_copy_prefills_every_step_but_the_poe(client_a, partner_a, bizapps_tenant, products, s3_objects):
    sales = bizapps_tenant.sales_subscriptions[1]
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[sales],
        programs=("osu_bizapps", "osa_sell"),
        status=ClaimStatus.REJECTED_FINAL,
        name="AW again",
        domain="adventure-works.example",
        customer_contact_email="nancy@adventure-works.example",
    )
    response = _copy(client_a, claim)
    draft = Claim.objects.get(status=ClaimStatus.DRAFT)
    assert response["Location"] == _edit_url(draft)
    response = client_a.get(response["Location"])
    assert _step(response) == "customer"
    assert "The proof of execution is not copied: add it again." in response.content.decode()
    form = response.context["form"]
    assert (form["location"].value(), form["domain"].value()) == ("1000001", "adventure-works.example")
    assert _step(post_step(client_a, "customer", BIZAPPS_CUSTOMER)) == "activity"
    response = client_a.get(_edit_url(draft))  # as saved, from the list again
    assert _step(response) == "activity"
    form = response.context["form"]
    assert form["solution_area"].value() == "business_applications"
    assert (form["business_activity"].value(), form["usage"].value(), form["pre_sales"].value()) == (
        "usage_pre_sales",
        True,
        True,
    )
    response = post_step(client_a, "activity", {**BIZ_BOTH})
    form = response.context["form"]
    # The copy is named as one (SPEC §12): the list never shows two rows with one name.
    assert _step(response) == "associate" and form["name"].value() == "Copy of AW again"
    response = post_step(client_a, "associate", {"name": "Copy of AW again"})
    form = response.context["form"]
    assert form["products"].value() == [str(products["d365-sales"].pk)]
    assert form["subscription_d365-sales"].value() == str(sales.subscription_id)
    response = post_step(
        client_a,
        "products",
        {"products": [str(products["d365-sales"].pk)], "subscription_d365-sales": str(sales.subscription_id)},
    )
    form = response.context["form"]
    assert _step(response) == "contacts"
    assert form["customer_contact_email"].value() == "nancy@adventure-works.example"
    assert form["technical_contact_name"].value() == "Toni Tech"
    response = post_step(client_a, "contacts", {**BIZAPPS_CONTACTS, **TECHNICAL})
    assert _step(response) == "poe"
    assert not PendingUpload.objects.exists() and len(s3_objects()) == 1  # only the old claim's document
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.REJECTED_FINAL


def test_drafts_copy_of_an_expired_draft_keeps_its_step_data(client_a, partner_a, m365_tenant):
    start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    post_step(client_a, "activity", {"solution_area": "microsoft_365"})
    post_step(client_a, "associate", {"name": "Expired one"})
    old = _draft()
    Claim.objects.filter(pk=old.pk).update(draft_saved_at=timezone.now() - datetime.timedelta(days=31))
    claims_expire_drafts()
    _copy(client_a, old)
    copy = Claim.objects.get(status=ClaimStatus.DRAFT)
    assert copy.pk != old.pk and copy.name == "Copy of Expired one"
    assert copy.draft_data["step"] == "customer"
    assert copy.draft_data["step_data"]["associate"]["associate-name"] == ["Copy of Expired one"]
    assert copy.draft_data["extra_data"]["submission_key"] == str(copy.submission_key)


def test_drafts_copy_of_another_partners_claim_is_404(client_a, partner_b, m365_tenant, products):
    claim = claim_make(partner_b, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.REJECTED_FINAL)
    assert _copy(client_a, claim).status_code == 404
    assert not Claim.objects.filter(status=ClaimStatus.DRAFT).exists()


def test_drafts_another_tab_of_another_draft_never_writes_into_this_one(client_a, partner_a, m365_tenant):
    first_key = start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    first = _draft()
    start(client_a)  # + Customer association in another tab: a new run in the same session
    post_step(client_a, "customer", M365_CUSTOMER)
    second = Claim.objects.exclude(pk=first.pk).get()
    # The first tab's page posts its own key: its data goes to neither draft; its own draft opens again.
    response = post_step(client_a, "activity", {"solution_area": "microsoft_365"}, submission_key=first_key)
    assert response.status_code == 302 and response["Location"] == _edit_url(first)
    second.refresh_from_db()
    assert "activity" not in second.draft_data["step_data"]
    assert uuid.UUID(first_key) == first.submission_key


def test_drafts_wizard_url_still_starts_fresh(client_a, m365_tenant):
    start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    response = client_a.get(wizard_url())
    assert _step(response) == "customer" and response.context["submission_key"] != str(_draft().submission_key)
    assert Claim.objects.count() == 1


# --- what a draft keeps, and how many a user keeps (issue 14) ------------------------------------------------------

JUNK = {"junk_a": "A" * (5 * 1024 * 1024), "junk_b": "B" * (5 * 1024 * 1024)}


def _saved_keys(claim, step):
    return set(claim.draft_data["step_data"][step])


def test_drafts_junk_fields_never_reach_draft_data(client_a, partner_a, m365_tenant):
    start(client_a)

    assert _step(post_step(client_a, "customer", M365_CUSTOMER, **JUNK)) == "activity"
    assert _step(post_step(client_a, "activity", {"solution_area": "microsoft_365"}, **JUNK, **{"customer-x": "1"}))
    # Back, with what was typed on the step (valid or not), keeps only the step's fields too.
    post_step(client_a, "associate", {"name": "Northwind", "extra": "y" * 1000}, wizard_goto_step="activity", **JUNK)

    draft = _draft()
    assert _saved_keys(draft, "customer") == {
        "claim_wizard-current_step",
        "customer-location",
        "customer-domain",
        "customer-directory_id",
    }
    assert _saved_keys(draft, "activity") == {"claim_wizard-current_step", "activity-solution_area"}
    assert _saved_keys(draft, "associate") == {"claim_wizard-current_step", "associate-name"}
    assert len(json.dumps(draft.draft_data)) < 2000
    # The session's copy of the run holds no more than the draft.
    session = client_a.session["wizard_claim_wizard"]
    assert set(session["step_data"]["customer"]) == _saved_keys(draft, "customer")


def test_drafts_over_the_size_cap_is_refused_with_a_message_and_nothing_saved(client_a, m365_tenant, settings):
    settings.DRAFT_MAX_BYTES = 64 * 1024
    start(client_a)
    post_step(client_a, "customer", M365_CUSTOMER)
    post_step(client_a, "activity", {"solution_area": "microsoft_365"})
    before = _draft().draft_data

    # Back keeps what was typed, valid or not: here 70,000 characters in the claim's name.
    response = post_step(client_a, "associate", {"name": "N" * 70_000}, wizard_goto_step="activity")

    assert response.status_code == 200 and _step(response) == "associate"
    page = response.content.decode()
    assert "What you entered is more than a draft can keep (64.0\xa0KB for the whole customer association)" in page
    assert "nothing of this step was saved." in page
    assert _draft().draft_data == before
    # A legitimate Continue still saves.
    assert _step(post_step(client_a, "associate", {"name": "Northwind M365"})) == "products"
    assert _draft().draft_data["step_data"]["associate"]["associate-name"] == ["Northwind M365"]


def test_drafts_over_the_size_cap_page_in_traditional_chinese(client_a, m365_tenant, settings):
    settings.DRAFT_MAX_BYTES = 64 * 1024
    start(client_a)

    response = client_a.post(
        wizard_url(),
        {"claim_wizard-current_step": "customer", "customer-domain": "x" * 70_000},
        HTTP_ACCEPT_LANGUAGE="zh-TW",
    )

    assert "您輸入的內容超過草稿可保存的大小" in response.content.decode()
    assert not Claim.objects.exists()


def _drafts_of(actor, tenant, count):
    return [claim_make(actor, tenant=tenant, status=ClaimStatus.DRAFT, documents=()) for _ in range(count)]


def test_drafts_limit_a_new_claim_beyond_it_shows_the_page_with_the_drafts_link(
    client_a, partner_a, m365_tenant, settings
):
    settings.DRAFTS_MAX_OPEN = 3
    drafts = _drafts_of(partner_a, m365_tenant, 3)

    response = client_a.get(wizard_url())

    assert response.status_code == 409
    page = response.content.decode()
    assert "<h1>Too many drafts open</h1>" in page
    assert "You have 3 customer association drafts open, the most one person can keep" in page
    assert f'href="{reverse("claims:list")}?status=draft"' in page
    assert "submission_key" not in page  # no wizard
    # Resuming a draft still works, and so does finishing one.
    assert client_a.get(_edit_url(drafts[0])).status_code == 200
    # Another user of the partner has drafts of their own to count.
    other = make_user("second-admin@partner-a.example", partner=partner_a.partner)
    other_client = Client()
    other_client.force_login(other)
    assert other_client.get(wizard_url()).status_code == 200


def test_drafts_limit_zh_hant(client_a, partner_a, m365_tenant, settings):
    settings.DRAFTS_MAX_OPEN = 1
    _drafts_of(partner_a, m365_tenant, 1)

    page = client_a.get(wizard_url(), HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()

    assert "開啟的草稿太多" in page and "查看您的草稿" in page


def test_drafts_limit_reached_meanwhile_refuses_the_first_continue(client_a, partner_a, m365_tenant, settings):
    settings.DRAFTS_MAX_OPEN = 2
    _drafts_of(partner_a, m365_tenant, 1)
    start(client_a)  # one draft open: a new run may start
    _drafts_of(partner_a, m365_tenant, 1)  # another tab made the second meanwhile

    response = post_step(client_a, "customer", M365_CUSTOMER)

    assert response.status_code == 409 and "Too many drafts open" in response.content.decode()
    assert Claim.objects.filter(status=ClaimStatus.DRAFT).count() == 2


def test_drafts_limit_submitting_a_run_without_a_draft_and_finishing_a_draft_still_work(
    client_a, partner_a, m365_tenant, products, settings
):
    settings.DRAFTS_MAX_OPEN = 1
    key = _walk_to_poe(client_a, products)  # this run is the one open draft
    assert client_a.get(wizard_url()).status_code == 409

    response = post_step(client_a, "poe", {})
    assert _step(response) == "review"
    response = client_a.get(_edit_url(_draft()))
    assert response.status_code == 200
    response = submit(client_a, key)

    claim = Claim.objects.get(submission_key=key)
    assert response.status_code == 302 and claim.status == ClaimStatus.SUBMITTED
    assert client_a.get(wizard_url()).status_code == 200  # no draft open any more


def test_drafts_limit_copy_into_a_new_claim_beyond_it_shows_the_page(client_a, partner_a, m365_tenant, settings):
    settings.DRAFTS_MAX_OPEN = 1
    expired = claim_make(partner_a, tenant=m365_tenant, status=ClaimStatus.EXPIRED, documents=())
    _drafts_of(partner_a, m365_tenant, 1)

    response = _copy(client_a, expired)

    assert response.status_code == 409 and "Too many drafts open" in response.content.decode()
    assert Claim.objects.filter(status=ClaimStatus.DRAFT).count() == 1
