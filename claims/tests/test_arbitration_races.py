"""Two reviewers approving two partners' competing claims at the same moment (SPEC §8, real threads and
connections): the approvals queue on the items' keys, so the second sees the first's claim awaiting the customer
and is asked for a reason; never both approved without one."""

import contextlib
import threading

import pytest
from django.db import connection

from associations.tests.fixtures import make_user
from claims.models import ClaimStatus
from claims.selectors import competition
from claims.services import claim_approve
from claims.services import review as review_service
from claims.services.review import ApprovalNeedsConfirmation
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db(transaction=True)


def test_arbitration_race_two_approvals_of_competing_claims_one_is_asked_to_confirm(
    partner_a, partner_b, m365_tenant, products, reviewer, monkeypatch
):
    claims = [
        claim_make(actor, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
        for actor in (partner_a, partner_b)
    ]
    reviewers = [reviewer, make_user("second.reviewer@cpor.example", is_staff=True)]
    # Each approval, once it has looked for competitors, waits (up to 2 s) for the other to have looked too: without
    # a lock on the items' keys both would look before either approved, and neither would be asked to confirm.
    looked = threading.Barrier(2)

    def contested_then_wait(claim, **kwargs):
        found = competition.contested_items(claim, **kwargs)
        # A broken barrier: the other approval is queued behind this one's lock.
        with contextlib.suppress(threading.BrokenBarrierError):
            looked.wait(timeout=2)
        return found

    monkeypatch.setattr(review_service, "contested_items", contested_then_wait)
    start = threading.Barrier(2)
    outcomes = [None, None]

    def approve(n):
        try:
            start.wait()
            claim_approve(claim=claims[n], user=reviewers[n])
            outcomes[n] = "approved"
        except ApprovalNeedsConfirmation:
            outcomes[n] = "asked to confirm"
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["approved", "asked to confirm"]
    statuses = sorted(type(c).objects.get(pk=c.pk).status for c in claims)
    assert statuses == [ClaimStatus.CUSTOMER_NOTIFIED, ClaimStatus.UNDER_REVIEW]
