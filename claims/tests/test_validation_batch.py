"""Validation in batches: the same rules as one claim at a time, a fixed number of queries, and each claim validated
once however many runs take batches at the same moment."""

import io
import os
import threading
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext

from associations.models import Association, Program
from associations.tests.fixtures import make_tenant
from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, EmailNotification, PoeDocument
from claims.services import claim_validate, claims_transition, claims_validate, claims_validate_waiting
from claims.tasks import claim_validate_task
from claims.tests.factories import PDF_BYTES, claim_make
from claims.uploads import poe_template_docx

pytestmark = pytest.mark.django_db

NOT_ALLOWED = (
    "The POE file {} is not an allowed type "
    "(PDF, Word document, Excel workbook, PowerPoint presentation, PNG image, JPEG image, Outlook message)."
)


def _state(*claims):
    for claim in claims:
        claim.refresh_from_db()
    return [(c.status, c.rejection_reasons, c.competing) for c in claims]


def test_validate_batch_gives_each_claim_its_own_outcome(partner_a, partner_b, m365_tenant, bizapps_tenant, products):
    passes = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])
    bad_email = claim_make(
        partner_a, tenant=m365_tenant, products=[products["exchange-online"]], customer_contact_email="dana(at)x"
    )
    foreign_domain = claim_make(
        partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]], domain="adventure-works.example"
    )
    bad_poe = claim_make(
        partner_b,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.power_bi_subscription],
        documents=[("proof.pdf", b"MZ\x90\x00 an executable")],
    )
    competing = claim_make(partner_b, tenant=m365_tenant, products=[products["yammer"]])

    outcome = claims_validate(claim_ids=[c.pk for c in (passes, bad_email, foreign_domain, bad_poe, competing)])

    assert outcome == {
        passes.pk: ClaimStatus.UNDER_REVIEW,
        bad_email.pk: ClaimStatus.REJECTED,
        foreign_domain.pk: ClaimStatus.REJECTED,
        bad_poe.pk: ClaimStatus.REJECTED,
        competing.pk: ClaimStatus.UNDER_REVIEW,
    }
    assert _state(passes, bad_email, foreign_domain, bad_poe, competing) == [
        ("under_review", [], True),
        ("rejected", ["The customer contact's email address dana(at)x is not valid."], False),
        (
            "rejected",
            ["The domain name adventure-works.example does not belong to the tenant of this Directory ID."],
            False,
        ),
        ("rejected", [NOT_ALLOWED.format("proof.pdf")], False),
        ("under_review", [], True),
    ]
    assert passes.tenant_id == m365_tenant.pk and bad_poe.tenant_id == bizapps_tenant.pk
    events = {e.claim_id: e for e in ClaimEvent.objects.all()}
    assert len(events) == 5 and ClaimEvent.objects.count() == 5
    assert (events[passes.pk].action, events[passes.pk].old_status, events[passes.pk].new_status) == (
        "validated",
        "submitted",
        "under_review",
    )
    assert (events[bad_email.pk].action, events[bad_email.pk].reason, events[bad_email.pk].message) == (
        "validation_failed",
        "validation",
        "The customer contact's email address dana(at)x is not valid.",
    )
    assert events[bad_poe.pk].message == NOT_ALLOWED.format("proof.pdf")
    assert sorted(EmailNotification.objects.values_list("claim_id", "kind")) == sorted(
        [(bad_email.pk, "rejected"), (foreign_domain.pk, "rejected"), (bad_poe.pk, "rejected")]
    )
    assert set(ClaimItem.objects.filter(competing=True).values_list("claim_id", flat=True)) == {passes.pk, competing.pk}


def test_validate_batch_same_as_one_at_a_time_for_two_claims_of_one_partner(partner_a, m365_tenant, products):
    # One after the other, the older claim sees the newer one pending and is refused; the newer then passes.
    older = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])
    newer = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])

    claims_validate(claim_ids=[newer.pk, older.pk])

    assert _state(older, newer) == [
        ("rejected", ["Yammer is already claimed in another open claim of your organization."], False),
        ("under_review", [], False),
    ]


def test_validate_rejected_claim_does_not_mark_the_other_partner_competing(partner_a, partner_b, bizapps_tenant):
    subscription = bizapps_tenant.field_service_subscription
    other = claim_make(partner_b, tenant=bizapps_tenant, subscriptions=[subscription], status=ClaimStatus.UNDER_REVIEW)
    claim = claim_make(partner_a, tenant=bizapps_tenant, subscriptions=[subscription], partner_contact_name="")

    assert claim_validate(claim_id=claim.pk) == ClaimStatus.REJECTED

    # A rejected claim is final: the other partner's claim has no competitor for its reviewer.
    assert _state(claim, other) == [
        ("rejected", ["Your company's contact name is missing."], True),
        ("under_review", [], False),
    ]
    assert list(ClaimItem.objects.filter(competing=True).values_list("claim_id", flat=True)) == [claim.pk]


def _claims_for_tenants(partner, products, count, *, prefix="batch"):
    teams = products["microsoft-teams"]
    tenants = [
        make_tenant(
            f"{prefix} customer {n}", domains=[f"{prefix}{n}.example"], workloads=["microsoft-teams"], products=products
        )
        for n in range(count)
    ]
    return [claim_make(partner, tenant=t, products=[teams]) for t in tenants]


def test_validate_batch_queries_do_not_grow_with_the_batch(partner_a, partner_b, m365_tenant, products):
    def batch(count):
        # Each batch also has a rejected claim and one that competes with partner B's open claim.
        held = claim_make(partner_b, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
        claims = _claims_for_tenants(partner_a, products, count - 2, prefix=f"size{count}-")
        claims.append(claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]]))
        claims.append(claim_make(partner_a, tenant=m365_tenant, products=[products["sharepoint-online"]], documents=()))
        with CaptureQueriesContext(connection) as queries:
            outcome = claims_validate(claim_ids=[c.pk for c in claims])
        assert list(outcome.values()).count(ClaimStatus.REJECTED) == 1
        assert len(outcome) == count
        held.refresh_from_db()
        assert held.competing is True
        # Out of the way of the next batch (which claims the same workloads of the same tenant).
        passed = [pk for pk, status in outcome.items() if status == ClaimStatus.UNDER_REVIEW]
        claims_transition(
            claim_ids=[held.pk, *passed],
            old_status=ClaimStatus.UNDER_REVIEW,
            to=ClaimStatus.REJECTED,
            actor=None,
            action="rejected",
        )
        return len(queries.captured_queries)

    five, fifty = batch(5), batch(50)

    # Lock, 3 loads, 5 facts, 1 outcome UPDATE, 2 transitions with their events (each: the chains' heads, then one
    # INSERT of the signed events, SPEC §14) and outbox, competing items, then the other partner's items and claim;
    # 6 of the 28 are the savepoints of the test's transaction. (26 before each transition's webhook deliveries were
    # written with its events, one INSERT per move whatever the batch's size: api.services.webhooks; 25 before the
    # outbox's INSERT returned its ids instead of reading them again; 24 before events were signed by the application,
    # migration 0012.)
    assert five == fifty == 28


def test_validate_batch_second_run_changes_nothing(partner_a, products, django_assert_num_queries):
    claims = _claims_for_tenants(partner_a, products, 4)
    ids = [c.pk for c in claims]
    claims_validate(claim_ids=ids)
    before = _state(*claims)

    with django_assert_num_queries(3):  # savepoint, the lock that finds nothing, release
        assert claims_validate(claim_ids=ids) == {}
    assert claim_validate(claim_id=ids[0]) is None
    assert claims_validate_waiting(claim_id=ids[0]) == {}
    assert _state(*claims) == before
    assert ClaimEvent.objects.count() == 4


def test_validate_task_drains_waiting_claims_oldest_first(partner_a, products, django_capture_on_commit_callbacks):
    claims = _claims_for_tenants(partner_a, products, 5)

    claim_validate_task(claim_id=claims[2].pk)

    assert {c[0] for c in _state(*claims)} == {"under_review"}
    for claim in claims:
        claim_validate_task(claim_id=claim.pk)  # the tasks of the claims validated in that batch: nothing to do
    assert ClaimEvent.objects.count() == 5


def test_validate_waiting_batch_takes_the_claim_and_the_oldest_others(partner_a, products):
    claims = _claims_for_tenants(partner_a, products, 5)

    outcome = claims_validate_waiting(claim_id=claims[4].pk, batch_size=3)

    assert sorted(outcome) == sorted([claims[4].pk, claims[0].pk, claims[1].pk])
    assert [c[0] for c in _state(*claims)] == ["under_review", "under_review", "submitted", "submitted", "under_review"]


def _with_filler(docx, *, content_types=None, drop=None):
    """The document with 200 KB of incompressible filler; ``drop`` replaces that part by ``content_types``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        target.writestr("word/media/filler.bin", os.urandom(200 * 1024))
        for name in source.namelist():
            if name == drop:
                target.writestr(
                    name, b'<Types><Override PartName="/word/document.xml" ContentType="%s"/></Types>' % content_types
                )
            else:
                target.writestr(name, source.read(name))
    return out.getvalue()


def test_validate_batch_poe_read_again_by_content_in_ranges(partner_a, m365_tenant, products):
    docx = poe_template_docx(
        partner_name="Contoso", mpn_id="1000001", customer_name="Northwind", domain="x", directory_id="y", products=[]
    )
    # Office files are judged by their zip directory: make it lie past the first block that is read.
    docm_like = _with_filler(
        docx, content_types=b"application/vnd.ms-word.document.macroEnabled.main+xml", drop="[Content_Types].xml"
    )
    docx = _with_filler(docx)
    good = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], documents=[("poe.docx", docx)])
    bad = claim_make(
        partner_a, tenant=m365_tenant, products=[products["exchange-online"]], documents=[("x.docx", docm_like)]
    )
    gone = claim_make(partner_a, tenant=m365_tenant, products=[products["microsoft-teams"]])
    default_storage.delete(gone.documents.get().file.name)

    claims_validate(claim_ids=[good.pk, bad.pk, gone.pk])

    assert _state(good, bad, gone) == [
        ("under_review", [], False),
        ("rejected", [NOT_ALLOWED.format("x.docx")], False),
        ("rejected", [NOT_ALLOWED.format("proof.pdf")], False),
    ]


def test_validate_batch_trusts_the_type_found_at_upload(partner_a, m365_tenant, products):
    # Rows written by the wizard or the partner's answer carry the sniffer's verdict: the object is not read again.
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], documents=())
    document = PoeDocument(
        claim=claim, original_name="proof.pdf", content_type="application/pdf", size=len(PDF_BYTES), sha256="0" * 64
    )
    document.content_checked = True
    document.file.save("proof.pdf", ContentFile(PDF_BYTES), save=True)
    default_storage.delete(document.file.name)

    assert claim_validate(claim_id=claim.pk) == ClaimStatus.UNDER_REVIEW


@pytest.mark.django_db(transaction=True)
def test_validate_two_batch_runs_at_once_validate_each_claim_once(partner_a, partner_b, m365_tenant, products):
    claims = _claims_for_tenants(partner_a, products, 30)
    claims.append(claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], documents=()))
    claims.append(claim_make(partner_b, tenant=m365_tenant, products=[products["yammer"]]))
    ids = [c.pk for c in claims]
    barrier = threading.Barrier(4)
    results, errors = [None] * 4, []

    def run(n, function):
        try:
            barrier.wait()
            results[n] = function()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    functions = [
        lambda: claims_validate(claim_ids=ids),
        lambda: claims_validate(claim_ids=list(reversed(ids))),
        lambda: claims_validate_waiting(claim_id=ids[-1], batch_size=10),
        lambda: claims_validate_waiting(claim_id=ids[0], batch_size=10),
    ]
    threads = [threading.Thread(target=run, args=(n, f)) for n, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    validated = [claim_id for result in results for claim_id in result]
    assert sorted(validated) == sorted(ids)  # every claim by exactly one of the runs
    assert not Claim.objects.filter(pk__in=ids, status=ClaimStatus.SUBMITTED).exists()
    assert sorted(ClaimEvent.objects.values_list("claim_id", flat=True)) == sorted(ids)
    assert list(EmailNotification.objects.values_list("claim_id", "kind")) == [(claims[-2].pk, "rejected")]
    assert not Association.objects.filter(program=Program.OSU_M365).exists()
