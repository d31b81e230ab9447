"""Per-status claim counts: the deltas PostgreSQL triggers log (migration 0007), their compaction into the
counters (``claim_counts_compact``), and claims_counts_verify."""

import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from claims.models import Claim, ClaimEvent, ClaimStatus, PartnerClaimCount, PartnerClaimCountDelta
from claims.selectors import claim_status_count_mismatches, claim_status_counts
from claims.services import claim_counts_compact, claim_transition, claims_transition
from claims.tests.wizard_steps import make_claim
from cpor.celery import app

S = ClaimStatus


def _counters(*partners):
    """{(partner id, status): count} as the list page reads them (counters plus deltas)."""
    return {
        (actor.partner.pk, status): n
        for actor in partners
        for status, n in claim_status_counts(partner=actor.partner).items()
    }


def _group_by():
    return {
        (partner_id, status): n
        for partner_id, status, n in Claim.objects.values_list("partner_id", "status").annotate(n=Count("*")).order_by()
    }


def _deltas():
    return sorted(PartnerClaimCountDelta.objects.values_list("partner_id", "status", "delta"))


def _stored_counters():
    """The counter rows alone (what compaction wrote), without the zeros it may leave."""
    return {
        (p, status): n for p, status, n in PartnerClaimCount.objects.values_list("partner_id", "status", "count") if n
    }


def _threads_run(*works, timeout=120):
    """Run each callable in its own thread with its own connection; the exceptions they raised."""
    errors = []

    def run(work):
        try:
            work()
        except Exception as exc:  # reported to the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return errors


def _reject_batch(ids, *, to=S.REJECTED):
    """A job's set-based transition of submitted claims, as validation and the other batches write it."""
    with transaction.atomic():
        locked = list(Claim.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
        claims_transition(
            claim_ids=locked,
            old_status=S.SUBMITTED,
            to=to,
            actor=ClaimEvent.Actor.SYSTEM,
            action="validated" if to == S.UNDER_REVIEW else "validation_failed",
            now=timezone.now(),
        )


def test_counts_follow_inserts_updates_and_deletes(partner_a, partner_b, m365_tenant, products):
    teams = [products["microsoft-teams"]]
    a = [make_claim(partner_a, m365_tenant, teams, name=f"A{n}") for n in range(5)]
    b = make_claim(partner_b, m365_tenant, teams, name="B", status=S.UNDER_REVIEW)
    A, B = partner_a.partner.pk, partner_b.partner.pk
    assert _counters(partner_a, partner_b) == {(A, S.SUBMITTED): 5, (B, S.UNDER_REVIEW): 1} == _group_by()

    # One claim through the single-claim transition (Model.save(update_fields=...)).
    claim_transition(claim=a[0], to=S.UNDER_REVIEW, actor=ClaimEvent.Actor.REVIEWER, action="review_started")
    # A batch through the set-based transition of the jobs (one UPDATE of several rows).
    _reject_batch([a[1].pk, a[2].pk])
    # QuerySet.update() across two partners in one statement: one aggregated delta per (partner, status).
    logged = PartnerClaimCountDelta.objects.count()
    Claim.objects.filter(pk__in=[a[3].pk, b.pk]).update(status=S.REJECTED)
    # With the events PostgreSQL requires of every status change (migration 0008).
    for claim, old in ((a[3], S.SUBMITTED), (b, S.UNDER_REVIEW)):
        ClaimEvent.objects.create(claim=claim, actor="system", action="rejected", old_status=old, new_status=S.REJECTED)
    assert sorted(
        PartnerClaimCountDelta.objects.order_by("pk")[logged:].values_list("partner_id", "status", "delta")
    ) == [
        (A, S.REJECTED, 1),
        (A, S.SUBMITTED, -1),
        (B, S.REJECTED, 1),
        (B, S.UNDER_REVIEW, -1),
    ]
    assert _counters(partner_a, partner_b) == {
        (A, S.SUBMITTED): 1,
        (A, S.UNDER_REVIEW): 1,
        (A, S.REJECTED): 3,
        (B, S.REJECTED): 1,
    }
    assert _counters(partner_a, partner_b) == _group_by()

    # An update that changes no status logs no delta.
    logged = PartnerClaimCountDelta.objects.count()
    Claim.objects.filter(partner=partner_a.partner).update(competing=True)
    assert PartnerClaimCountDelta.objects.count() == logged
    # Deletes (only drafts are ever deleted, migration 0008), one by the instance and one by QuerySet.delete().
    drafts = [make_claim(actor, m365_tenant, teams, status="draft") for actor in (partner_a, partner_a, partner_b)]
    drafts[0].delete()
    Claim.objects.filter(pk__in=[drafts[1].pk, drafts[2].pk]).delete()
    assert _counters(partner_a, partner_b) == {
        (A, S.SUBMITTED): 1,
        (A, S.UNDER_REVIEW): 1,
        (A, S.REJECTED): 3,
        (B, S.REJECTED): 1,
    }
    assert _counters(partner_a, partner_b) == _group_by()
    assert claim_status_counts(partner=partner_a.partner) == {S.SUBMITTED: 1, S.UNDER_REVIEW: 1, S.REJECTED: 3}
    assert claim_status_counts(partner=partner_b.partner) == {S.REJECTED: 1}
    assert claim_status_count_mismatches() == []
    # Writers only ever log: the counter rows are the compaction's alone.
    assert not PartnerClaimCount.objects.exists()


def test_counts_rolled_back_writes_leave_no_trace(partner_a, m365_tenant, products):
    make_claim(partner_a, m365_tenant, [products["yammer"]])
    with pytest.raises(RuntimeError), transaction.atomic():
        make_claim(partner_a, m365_tenant, [products["yammer"]])
        Claim.objects.update(status=S.UNDER_REVIEW)
        raise RuntimeError("roll back")
    assert _counters(partner_a) == {(partner_a.partner.pk, S.SUBMITTED): 1} == _group_by()
    assert _deltas() == [(partner_a.partner.pk, S.SUBMITTED, 1)]


@pytest.mark.django_db(transaction=True)
def test_counts_stay_exact_under_concurrent_transactions(partner_a, partner_b, m365_tenant, products):
    """Inserts, single and batch transitions and deletes of two partners, from five connections at once."""
    yammer = [products["yammer"]]
    existing_a = [make_claim(partner_a, m365_tenant, yammer, name=f"old A{n}").pk for n in range(40)]
    # The first ten are drafts, the claims a partner may delete (migration 0008).
    existing_b = [
        make_claim(partner_b, m365_tenant, yammer, name=f"old B{n}", status="draft" if n < 10 else S.SUBMITTED).pk
        for n in range(20)
    ]
    barrier = threading.Barrier(5)

    def insert_a():
        barrier.wait()
        for n in range(15):
            make_claim(partner_a, m365_tenant, yammer, name=f"new A{n}")

    def insert_b_in_one_transaction():
        barrier.wait()
        with transaction.atomic():
            for n in range(15):
                make_claim(partner_b, m365_tenant, yammer, name=f"new B{n}")

    def review_a_one_by_one():
        barrier.wait()
        for pk in existing_a[:20]:
            claim_transition(
                claim=Claim.objects.get(pk=pk), to=S.UNDER_REVIEW, actor=ClaimEvent.Actor.REVIEWER, action="review"
            )

    def reject_a_in_batches():
        barrier.wait()
        for start in range(20, 40, 5):
            _reject_batch(existing_a[start : start + 5])

    def delete_b():
        barrier.wait()
        for pk in existing_b[:10]:
            Claim.objects.filter(pk=pk).delete()

    errors = _threads_run(insert_a, insert_b_in_one_transaction, review_a_one_by_one, reject_a_in_batches, delete_b)
    assert not errors, errors
    A, B = partner_a.partner.pk, partner_b.partner.pk
    assert _counters(partner_a, partner_b) == {
        (A, S.SUBMITTED): 15,
        (A, S.UNDER_REVIEW): 20,
        (A, S.REJECTED): 20,
        (B, S.SUBMITTED): 25,
    }
    assert _counters(partner_a, partner_b) == _group_by()


@pytest.mark.django_db(transaction=True)
def test_counts_opposite_partner_orders_do_not_deadlock(partner_a, partner_b, m365_tenant, products):
    """Two validation batches, each one transaction of two statements (pass one partner's claim, then reject the
    other partner's), touching partners A then B and B then A. Migration 0004's counters locked (partner, status)
    rows until commit, so the second statements waited on each other and PostgreSQL aborted one with "deadlock
    detected"; the delta log takes no such lock."""
    yammer = [products["yammer"]]
    a1, a2 = (make_claim(partner_a, m365_tenant, yammer, name=f"A{n}").pk for n in range(2))
    b1, b2 = (make_claim(partner_b, m365_tenant, yammer, name=f"B{n}").pk for n in range(2))
    barrier = threading.Barrier(2, timeout=30)

    def batch(passed, rejected):
        def work():
            with transaction.atomic():
                with connection.cursor() as cursor:
                    # Fail instead of hanging if one batch waits on the other at all.
                    cursor.execute("SET LOCAL lock_timeout = '10s'")
                assert len(Claim.objects.select_for_update().filter(pk__in=[passed, rejected])) == 2
                claims_transition(
                    claim_ids=[passed],
                    old_status=S.SUBMITTED,
                    to=S.UNDER_REVIEW,
                    actor=ClaimEvent.Actor.SYSTEM,
                    action="validated",
                    now=timezone.now(),
                )
                barrier.wait()
                claims_transition(
                    claim_ids=[rejected],
                    old_status=S.SUBMITTED,
                    to=S.REJECTED,
                    actor=ClaimEvent.Actor.SYSTEM,
                    action="validation_failed",
                    now=timezone.now(),
                )

        return work

    errors = _threads_run(batch(a1, b1), batch(b2, a2))  # A then B; B then A
    assert not errors, errors
    assert dict(Claim.objects.values_list("pk", "status")) == {
        a1: S.UNDER_REVIEW,
        b1: S.REJECTED,
        b2: S.UNDER_REVIEW,
        a2: S.REJECTED,
    }
    assert claim_status_counts(partner=partner_a.partner) == {S.UNDER_REVIEW: 1, S.REJECTED: 1}
    assert claim_status_counts(partner=partner_b.partner) == {S.UNDER_REVIEW: 1, S.REJECTED: 1}
    assert claim_status_count_mismatches() == []


@pytest.mark.django_db(transaction=True)
def test_counts_writers_of_one_partner_do_not_wait_for_each_other(partner_a, m365_tenant, products):
    """A job's open transaction that moved one of a partner's claims does not hold up that partner's other
    writers: a submission and a review of another claim in the same statuses go through at once."""
    yammer = [products["yammer"]]
    first, second = (make_claim(partner_a, m365_tenant, yammer, name=f"A{n}") for n in range(2))
    holding, release = threading.Event(), threading.Event()

    def long_job():
        with transaction.atomic():
            claim_transition(claim=first, to=S.UNDER_REVIEW, actor=ClaimEvent.Actor.SYSTEM, action="validated")
            holding.set()
            assert release.wait(30)

    thread_errors = []
    thread = threading.Thread(target=lambda: thread_errors.extend(_threads_run(long_job)))
    thread.start()
    try:
        assert holding.wait(30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            claim_transition(claim=second, to=S.UNDER_REVIEW, actor=ClaimEvent.Actor.REVIEWER, action="review")
            make_claim(partner_a, m365_tenant, yammer, name="A new")
        # The job has not committed: its move is not counted yet, ours are.
        assert claim_status_counts(partner=partner_a.partner) == {S.SUBMITTED: 2, S.UNDER_REVIEW: 1}
    finally:
        release.set()
        thread.join(60)
    assert not thread_errors, thread_errors
    assert claim_status_counts(partner=partner_a.partner) == {S.SUBMITTED: 1, S.UNDER_REVIEW: 2}
    assert claim_status_count_mismatches() == []


def test_counts_compact_preserves_totals_and_empties_the_log(partner_a, partner_b, m365_tenant, products):
    yammer = [products["yammer"]]
    # a[2] is a draft, the only kind of claim that may be deleted (migration 0008).
    a = [
        make_claim(partner_a, m365_tenant, yammer, name=f"A{n}", status="draft" if n == 2 else S.SUBMITTED)
        for n in range(4)
    ]
    make_claim(partner_b, m365_tenant, yammer, name="B", status=S.OFFICIAL)
    _reject_batch([a[0].pk, a[1].pk])
    a[2].delete()
    before = _counters(partner_a, partner_b)
    assert before == _group_by()
    # One row per statement and (partner, status): four inserts of A, one of B, the batch's -2 submitted and
    # +2 rejected, the delete's -1 draft.
    assert len(_deltas()) == 8

    assert claim_counts_compact() == 8
    assert _deltas() == []
    assert _counters(partner_a, partner_b) == before
    assert _stored_counters() == _group_by()
    assert claim_status_count_mismatches() == []

    # Nothing logged since: the second run folds nothing and changes nothing.
    stored = list(PartnerClaimCount.objects.order_by("pk").values_list("pk", "partner_id", "status", "count"))
    assert claim_counts_compact() == 0
    assert list(PartnerClaimCount.objects.order_by("pk").values_list("pk", "partner_id", "status", "count")) == stored

    # New deltas add to the folded counters, before and after the next run.
    claim_transition(claim=a[3], to=S.UNDER_REVIEW, actor=ClaimEvent.Actor.REVIEWER, action="review")
    A = partner_a.partner.pk
    assert _deltas() == [(A, S.SUBMITTED, -1), (A, S.UNDER_REVIEW, 1)]
    assert _counters(partner_a, partner_b) == _group_by()
    assert claim_counts_compact() == 2
    assert _deltas() == []
    assert _counters(partner_a, partner_b) == _group_by() == _stored_counters()
    assert claim_status_counts(partner=partner_a.partner) == {S.UNDER_REVIEW: 1, S.REJECTED: 2}


@pytest.mark.django_db(transaction=True)
def test_counts_compact_runs_one_at_a_time(partner_a, m365_tenant, products):
    """While one compaction's transaction is open, a second one leaves the log alone, and readers see the
    counts from before the first (its DELETE is not committed): exact either way."""
    for n in range(3):
        make_claim(partner_a, m365_tenant, [products["yammer"]], name=f"A{n}")
    holding, release = threading.Event(), threading.Event()
    folded = []

    def first():
        with transaction.atomic():
            folded.append(claim_counts_compact())
            holding.set()
            assert release.wait(30)

    thread_errors = []
    thread = threading.Thread(target=lambda: thread_errors.extend(_threads_run(first)))
    thread.start()
    try:
        assert holding.wait(30)
        assert claim_counts_compact() is None
        assert len(_deltas()) == 3
        assert claim_status_counts(partner=partner_a.partner) == {S.SUBMITTED: 3}
    finally:
        release.set()
        thread.join(60)
    assert not thread_errors, thread_errors
    assert folded == [3]
    assert _deltas() == []
    assert _stored_counters() == {(partner_a.partner.pk, S.SUBMITTED): 3}
    assert claim_status_counts(partner=partner_a.partner) == {S.SUBMITTED: 3}


@pytest.mark.django_db(transaction=True)
def test_counts_compact_racing_writers_ends_exact(partner_a, partner_b, m365_tenant, products):
    """Compaction runs over and over while four connections write claims and a fifth reads the counts.

    Partner A's claims only change status, so every read of A's counts must add up to 40 whatever moment a
    compaction commits; partner B gains and loses claims, part of them in a transaction that stays open across
    several compactions.
    """
    yammer = [products["yammer"]]
    existing_a = [make_claim(partner_a, m365_tenant, yammer, name=f"old A{n}").pk for n in range(40)]
    # The first ten are drafts, the claims a partner may delete (migration 0008).
    existing_b = [
        make_claim(partner_b, m365_tenant, yammer, name=f"old B{n}", status="draft" if n < 10 else S.SUBMITTED).pk
        for n in range(20)
    ]
    writers_left = threading.Semaphore(0)
    writers = 4
    done = threading.Event()
    runs, folded, reads, bad_reads = [], [], [], []

    def writer(work):
        def run():
            try:
                work()
            finally:
                writers_left.release()

        return run

    def review_a_one_by_one():
        for pk in existing_a[:20]:
            claim_transition(
                claim=Claim.objects.get(pk=pk), to=S.UNDER_REVIEW, actor=ClaimEvent.Actor.REVIEWER, action="review"
            )

    def reject_a_in_batches():
        for start in range(20, 40, 4):
            _reject_batch(existing_a[start : start + 4])

    def insert_b_in_one_slow_transaction():
        with transaction.atomic():
            for n in range(15):
                make_claim(partner_b, m365_tenant, yammer, name=f"new B{n}")
                time.sleep(0.01)

    def insert_and_delete_b():
        for n, pk in enumerate(existing_b[:10]):
            make_claim(partner_b, m365_tenant, yammer, name=f"more B{n}")
            Claim.objects.filter(pk=pk).delete()

    def compactor():
        while not done.is_set():
            result = claim_counts_compact()
            runs.append(result)
            folded.append(result or 0)

    def reader():
        while not done.is_set():
            total = sum(claim_status_counts(partner=partner_a.partner).values())
            reads.append(total)
            if total != 40:
                bad_reads.append(total)

    def referee():
        for _ in range(writers):
            assert writers_left.acquire(timeout=120)
        done.set()

    errors = _threads_run(
        writer(review_a_one_by_one),
        writer(reject_a_in_batches),
        writer(insert_b_in_one_slow_transaction),
        writer(insert_and_delete_b),
        compactor,
        reader,
        referee,
    )
    assert not errors, errors
    assert bad_reads == [], f"{len(bad_reads)} of {len(reads)} reads of A's counts did not add up to 40"
    assert len(runs) > 5 and sum(folded) > 0  # compaction really ran, and folded rows, during the writes
    A, B = partner_a.partner.pk, partner_b.partner.pk
    expected = {(A, S.UNDER_REVIEW): 20, (A, S.REJECTED): 20, (B, S.SUBMITTED): 35}
    assert _counters(partner_a, partner_b) == expected == _group_by()
    claim_counts_compact()
    assert _deltas() == []
    assert _stored_counters() == expected
    assert _counters(partner_a, partner_b) == expected


def test_counts_compact_task_is_scheduled_every_minute(partner_a, m365_tenant, products):
    from claims.tasks import claim_counts_compact_task

    make_claim(partner_a, m365_tenant, [products["yammer"]])
    assert app.conf.beat_schedule["claim-counts-compact"] == {
        "task": claim_counts_compact_task.name,
        "schedule": 60.0,
    }
    assert claim_counts_compact_task.apply().get() == 1
    assert claim_counts_compact_task.apply().get() == 0
    assert _deltas() == []
    assert _stored_counters() == {(partner_a.partner.pk, S.SUBMITTED): 1}


def test_counts_verify_reports_and_fixes_drift(partner_a, partner_b, m365_tenant, products, capsys):
    make_claim(partner_a, m365_tenant, [products["yammer"]])
    make_claim(partner_b, m365_tenant, [products["yammer"]], status=S.REJECTED)
    claim_counts_compact()
    make_claim(partner_a, m365_tenant, [products["yammer"]])  # counted by a delta, on top of the counter
    call_command("claims_counts_verify")
    assert "The claim counters match the claims." in capsys.readouterr().out

    # Drift the triggers cannot cause (someone edited the tables by hand, or wrote with triggers disabled).
    PartnerClaimCount.objects.filter(partner=partner_a.partner, status=S.SUBMITTED).update(count=7)
    PartnerClaimCount.objects.filter(partner=partner_b.partner).delete()
    PartnerClaimCountDelta.objects.create(partner=partner_b.partner, status=S.OFFICIAL, delta=2)
    with pytest.raises(CommandError, match=r"3 claim counter\(s\) differ"):
        call_command("claims_counts_verify")
    out = capsys.readouterr().out
    assert f"partner {partner_a.partner.pk} submitted: counter 8, claims 2" in out
    assert f"partner {partner_b.partner.pk} rejected: counter 0, claims 1" in out
    assert f"partner {partner_b.partner.pk} official: counter 2, claims 0" in out
    assert _counters(partner_a, partner_b) != _group_by()  # checking alone changes nothing

    call_command("claims_counts_verify", fix=True)
    assert "Rebuilt the claim counters (3 differed)." in capsys.readouterr().out
    assert _deltas() == []
    assert _stored_counters() == _group_by() == _counters(partner_a, partner_b)
    call_command("claims_counts_verify")
    assert "The claim counters match the claims." in capsys.readouterr().out
