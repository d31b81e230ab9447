"""Per-status claim counters kept by PostgreSQL triggers (migration 0004) and claims_counts_verify."""

import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from claims.models import Claim, ClaimEvent, ClaimStatus, PartnerClaimCount
from claims.selectors import claim_status_count_mismatches, claim_status_counts
from claims.services import _claims_transition_locked, claim_transition
from claims.tests.wizard_steps import make_claim

S = ClaimStatus


def _counters():
    return {
        (partner_id, status): n
        for partner_id, status, n in PartnerClaimCount.objects.values_list("partner_id", "status", "count")
        if n
    }


def _group_by():
    return {
        (partner_id, status): n
        for partner_id, status, n in Claim.objects.values_list("partner_id", "status").annotate(n=Count("*")).order_by()
    }


def test_counts_follow_inserts_updates_and_deletes(partner_a, partner_b, m365_tenant, products):
    teams = [products["microsoft-teams"]]
    a = [make_claim(partner_a, m365_tenant, teams, name=f"A{n}") for n in range(5)]
    b = make_claim(partner_b, m365_tenant, teams, name="B", status=S.UNDER_REVIEW)
    A, B = partner_a.partner.pk, partner_b.partner.pk
    assert _counters() == {(A, S.SUBMITTED): 5, (B, S.UNDER_REVIEW): 1} == _group_by()

    # One claim through the single-claim transition (Model.save(update_fields=...)).
    claim_transition(claim=a[0], to=S.UNDER_REVIEW, actor=ClaimEvent.Actor.REVIEWER, action="review_started")
    # A batch through the set-based transition of the jobs (one UPDATE of several rows).
    with transaction.atomic():
        _claims_transition_locked(
            claim_ids=[a[1].pk, a[2].pk],
            old_status=S.SUBMITTED,
            to=S.REJECTED,
            actor=ClaimEvent.Actor.REVIEWER,
            action="rejected",
            now=timezone.now(),
        )
    # QuerySet.update() across two partners in one statement.
    Claim.objects.filter(pk__in=[a[3].pk, b.pk]).update(status=S.REJECTED)
    assert _counters() == {
        (A, S.SUBMITTED): 1,
        (A, S.UNDER_REVIEW): 1,
        (A, S.REJECTED): 3,
        (B, S.REJECTED): 1,
    }
    assert _counters() == _group_by()

    # An update that changes no status changes no counter.
    Claim.objects.filter(partner=partner_a.partner).update(competing=True)
    a[4].delete()
    Claim.objects.filter(pk=b.pk).delete()
    assert _counters() == {(A, S.UNDER_REVIEW): 1, (A, S.REJECTED): 3} == _group_by()
    assert claim_status_counts(partner=partner_a.partner) == {S.UNDER_REVIEW: 1, S.REJECTED: 3}
    assert claim_status_counts(partner=partner_b.partner) == {}
    assert claim_status_count_mismatches() == []


def test_counts_rolled_back_writes_leave_no_trace(partner_a, m365_tenant, products):
    make_claim(partner_a, m365_tenant, [products["yammer"]])
    with pytest.raises(RuntimeError), transaction.atomic():
        make_claim(partner_a, m365_tenant, [products["yammer"]])
        Claim.objects.update(status=S.UNDER_REVIEW)
        raise RuntimeError("roll back")
    assert _counters() == {(partner_a.partner.pk, S.SUBMITTED): 1} == _group_by()


@pytest.mark.django_db(transaction=True)
def test_counts_stay_exact_under_concurrent_transactions(partner_a, partner_b, m365_tenant, products):
    """Inserts, single and batch transitions and deletes of two partners, from five connections at once."""
    yammer = [products["yammer"]]
    existing_a = [make_claim(partner_a, m365_tenant, yammer, name=f"old A{n}").pk for n in range(40)]
    existing_b = [make_claim(partner_b, m365_tenant, yammer, name=f"old B{n}").pk for n in range(20)]
    barrier = threading.Barrier(5)
    errors = []

    def run(work):
        try:
            barrier.wait()
            work()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def insert_a():
        for n in range(15):
            make_claim(partner_a, m365_tenant, yammer, name=f"new A{n}")

    def insert_b_in_one_transaction():
        with transaction.atomic():
            for n in range(15):
                make_claim(partner_b, m365_tenant, yammer, name=f"new B{n}")

    def review_a_one_by_one():
        for pk in existing_a[:20]:
            claim_transition(
                claim=Claim.objects.get(pk=pk), to=S.UNDER_REVIEW, actor=ClaimEvent.Actor.REVIEWER, action="review"
            )

    def reject_a_in_batches():
        for start in range(20, 40, 5):
            with transaction.atomic():
                ids = list(
                    Claim.objects.select_for_update()
                    .filter(pk__in=existing_a[start : start + 5])
                    .values_list("pk", flat=True)
                )
                _claims_transition_locked(
                    claim_ids=ids,
                    old_status=S.SUBMITTED,
                    to=S.REJECTED,
                    actor=ClaimEvent.Actor.REVIEWER,
                    action="rejected",
                    now=timezone.now(),
                )

    def delete_b():
        for pk in existing_b[:10]:
            Claim.objects.filter(pk=pk).delete()

    threads = [
        threading.Thread(target=run, args=(work,))
        for work in (insert_a, insert_b_in_one_transaction, review_a_one_by_one, reject_a_in_batches, delete_b)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    A, B = partner_a.partner.pk, partner_b.partner.pk
    assert _counters() == {
        (A, S.SUBMITTED): 15,
        (A, S.UNDER_REVIEW): 20,
        (A, S.REJECTED): 20,
        (B, S.SUBMITTED): 25,
    }
    assert _counters() == _group_by()


def test_counts_verify_reports_and_fixes_drift(partner_a, partner_b, m365_tenant, products, capsys):
    make_claim(partner_a, m365_tenant, [products["yammer"]])
    make_claim(partner_b, m365_tenant, [products["yammer"]], status=S.REJECTED)
    call_command("claims_counts_verify")
    assert "The claim counters match the claims." in capsys.readouterr().out

    # Drift the triggers cannot cause (someone edited the table by hand, or wrote with triggers disabled).
    PartnerClaimCount.objects.filter(partner=partner_a.partner, status=S.SUBMITTED).update(count=7)
    PartnerClaimCount.objects.filter(partner=partner_b.partner).delete()
    with pytest.raises(CommandError, match=r"2 claim counter\(s\) differ"):
        call_command("claims_counts_verify")
    out = capsys.readouterr().out
    assert f"partner {partner_a.partner.pk} submitted: counter 7, claims 1" in out
    assert f"partner {partner_b.partner.pk} rejected: counter 0, claims 1" in out
    assert _counters() != _group_by()  # checking alone changes nothing

    call_command("claims_counts_verify", fix=True)
    assert "Rebuilt the claim counters (2 differed)." in capsys.readouterr().out
    assert _counters() == _group_by()
    call_command("claims_counts_verify")
    assert "The claim counters match the claims." in capsys.readouterr().out
