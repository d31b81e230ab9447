"""Races on PostgreSQL with real threads and connections: exactly one actor wins each claim."""

import datetime
import threading

import pytest
from django.db import connection

from associations.models import Association
from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification
from claims.services import claim_opt_out, claims_finalize_due
from claims.tests.factories import claim_make, notices_make

pytestmark = pytest.mark.django_db(transaction=True)
UTC = datetime.UTC
DEADLINE = datetime.datetime(2026, 12, 10, 4, 59, 59, tzinfo=UTC)


def _run_together(*functions):
    """Start every function at the same moment (a barrier), each in its own thread and database connection."""
    barrier = threading.Barrier(len(functions))
    results, errors = [None] * len(functions), []

    def run(n, function):
        try:
            barrier.wait()
            results[n] = function()
        except Exception as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n, f)) for n, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_race_opt_out_against_finalization_exactly_one_wins(partner_a, m365_tenant, products):
    outcomes = []
    workloads = [p for p in products.values() if p.solution_area == "microsoft_365"]
    for workload in workloads:  # ten rounds, one due claim each (its own item key)
        claim = claim_make(
            partner_a,
            tenant=m365_tenant,
            products=[workload],
            status=ClaimStatus.CUSTOMER_NOTIFIED,
            opt_out_deadline=DEADLINE,
            documents=(),
        )
        # The customer clicks within the window while the job runs just after it: both believe they may act.
        _run_together(
            lambda claim=claim: claim_opt_out(claim=claim, now=DEADLINE - datetime.timedelta(seconds=1)),
            lambda: claims_finalize_due(now=DEADLINE + datetime.timedelta(seconds=1), batch_size=1),
        )
        claim.refresh_from_db()
        outcomes.append(claim.status)
        assert claim.status in (ClaimStatus.OPTED_OUT, ClaimStatus.OFFICIAL)
        assert ClaimEvent.objects.filter(claim=claim).count() == 1
        # (Besides the customer's notice the claim came with: claims.tests.factories.notices_make.)
        emails = EmailNotification.objects.filter(claim=claim).exclude(kind="customer_notified")
        assert list(emails.values_list("kind", flat=True)) == [claim.status]
        associations = Association.objects.filter(claim_item__claim=claim)
        assert associations.count() == (1 if claim.status == ClaimStatus.OFFICIAL else 0)
    assert len(outcomes) == 10


def test_race_two_finalization_runs_finalize_each_claim_once(partner_a, m365_tenant, products):
    yammer = products["yammer"]
    template = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[yammer],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=DEADLINE,
        documents=(),
    )
    # 499 more due claims, written in bulk (each for its own tenant so that every item key is distinct).
    from associations.tests.fixtures import make_tenant
    from claims.models import ClaimItem

    tenants = [make_tenant(f"Customer {n}", domains=[f"customer{n}.example"], workloads=[]) for n in range(499)]
    rows = []
    for n, tenant in enumerate(tenants):
        claim = Claim(
            **{
                f.attname: getattr(template, f.attname)
                for f in Claim._meta.concrete_fields
                if f.attname not in ("id", "submission_key", "tenant_id", "directory_id", "domain", "name")
            },
            name=f"Bulk {n}",
            tenant=tenant,
            directory_id=tenant.directory_id,
            domain=f"customer{n}.example",
        )
        rows.append(claim)
    Claim.objects.bulk_create(rows)
    notices_make(rows)  # each with its delivered notice, as PostgreSQL asks of a claim that becomes official
    ClaimItem.objects.bulk_create(
        ClaimItem(claim=claim, program="osu_m365", tenant=claim.tenant, product=yammer) for claim in rows
    )
    now = DEADLINE + datetime.timedelta(seconds=1)

    first, second = _run_together(
        lambda: claims_finalize_due(now=now, batch_size=50), lambda: claims_finalize_due(now=now, batch_size=50)
    )

    assert first + second == 500
    assert Claim.objects.filter(status=ClaimStatus.OFFICIAL).count() == 500
    assert ClaimEvent.objects.filter(action="finalized").count() == 500
    assert ClaimEvent.objects.values("claim_id").distinct().count() == 500
    assert Association.objects.active().count() == 500
    assert EmailNotification.objects.filter(kind="official").count() == 500


def test_race_two_competing_claims_for_one_workload_leave_one_active(partner_a, partner_b, m365_tenant, products):
    for _ in range(5):
        a = claim_make(
            partner_a,
            tenant=m365_tenant,
            products=[products["yammer"]],
            status=ClaimStatus.CUSTOMER_NOTIFIED,
            opt_out_deadline=DEADLINE,
            competing=True,
            documents=(),
        )
        b = claim_make(
            partner_b,
            tenant=m365_tenant,
            products=[products["yammer"]],
            status=ClaimStatus.CUSTOMER_NOTIFIED,
            opt_out_deadline=DEADLINE,
            competing=True,
            documents=(),
        )
        now = DEADLINE + datetime.timedelta(seconds=1)

        # Two runs at once, one claim each (batch_size=1 and SKIP LOCKED give each run a different claim).
        _run_together(
            lambda now=now: claims_finalize_due(now=now, batch_size=1),
            lambda now=now: claims_finalize_due(now=now, batch_size=1),
        )

        active = Association.objects.active().filter(tenant=m365_tenant, product=products["yammer"])
        assert active.count() == 1
        a.refresh_from_db()
        b.refresh_from_db()
        # One official claim holds it; the other became official and was then replaced (ended).
        assert sorted([a.status, b.status]) == [ClaimStatus.ENDED, ClaimStatus.OFFICIAL]
        winner = a if a.status == ClaimStatus.OFFICIAL else b
        assert active.get().partner_id == winner.partner_id
        # Clean slate for the next round.
        active.update(status="ended", ended_at=now, end_reason="disassociated")
