"""Deadlines in sight (SPEC §12): when each open claim is due, whose turn it is, and the business days left.

Pure functions: no database, no clock (callers pass ``now``). What is due, per status:

=================  ===========================================================  ==============
status             due                                                          waiting on
=================  ===========================================================  ==============
draft              ``draft_saved_at`` + DRAFT_DAYS calendar days (then expired)  the partner
submitted,         5 business days after the status was entered (submission     the reviewer
under_review       or answer): 23:59:59 local on that day
disputed           5 business days after ``disputed_at``                        the reviewer
action_required    ``response_deadline`` (stored when the request was made)     the partner
customer_notified  ``opt_out_deadline`` (stored when the notice was delivered)  the customer
rejected           23:59:59 local on the DISPUTE_DAYS-th day after the           the partner
                   rejection (``dispute_deadline``), while not yet disputed
=================  ===========================================================  ==============

Every other status (and a rejected claim past its dispute window) has nothing due. Dates are the tenant's: its
country's public holidays and main time zone; a claim with no tenant (unresolved) uses UTC and weekends only.
"""

import dataclasses
import datetime

from django.utils.translation import gettext, gettext_noop, ngettext, pgettext

from claims.deadlines import business_days_between, deadline_after, dispute_deadline
from claims.vocabulary import DRAFT_DAYS, ClaimStatus

# The list's filter of the claims waiting for the partner (ClaimStatus.needs_action), as the navigation links to it.
NEEDS_ACTION = "needs_action"

PARTNER = "partner"
REVIEWER = "reviewer"
CUSTOMER = "customer"


@dataclasses.dataclass(frozen=True)
class Due:
    """What a claim waits for, and by when."""

    kind: str  # review, answer, customer, dispute, draft
    waiting_on: str  # PARTNER, REVIEWER or CUSTOMER
    at: datetime.datetime  # aware, in the tenant's time zone
    days_left: int  # business days after today, up to and including the due date (0 when today or overdue)
    today: bool  # due later today
    overdue: bool  # the moment has passed

    @property
    def date(self):
        return self.at.date()


def due_moment(
    *,
    status,
    status_changed_at,
    disputed_at,
    response_deadline,
    opt_out_deadline,
    draft_saved_at,
    country,
    time_zone,
    now,
):
    """(kind, waiting on, aware moment in ``time_zone``) of what a claim in ``status`` waits for; None if nothing.

    ``now`` None: whatever the clock says (a rejection's dispute window then counts until its end), as stored in
    ``Claim.due_at`` (``due_at_stored``)."""
    if status in (ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW, ClaimStatus.DISPUTED):
        start = disputed_at if status == ClaimStatus.DISPUTED and disputed_at else status_changed_at
        return "review", REVIEWER, deadline_after(start, country=country, time_zone=time_zone)
    if status == ClaimStatus.ACTION_REQUIRED and response_deadline:
        return "answer", PARTNER, response_deadline.astimezone(time_zone)
    if status == ClaimStatus.CUSTOMER_NOTIFIED and opt_out_deadline:
        return "customer", CUSTOMER, opt_out_deadline.astimezone(time_zone)
    if status == ClaimStatus.REJECTED and disputed_at is None:
        # The window the dispute form checks (claims.services.disputes); past it there is nothing left to do: the
        # claim page offers a copy instead (SPEC §12).
        until = dispute_deadline(status_changed_at, time_zone=time_zone)
        return None if now is not None and now > until else ("dispute", PARTNER, until)
    if status == ClaimStatus.DRAFT and draft_saved_at:
        return "draft", PARTNER, draft_due_at(draft_saved_at).astimezone(time_zone)
    return None


def due_at_stored(*, country, time_zone, **dates):
    """``Claim.due_at``: the moment of what a claim waits for (``due_moment``'s keywords), or None. The list sorts
    by it; ``claims.services.due`` keeps it, and clears a dispute window's once it has passed."""
    found = due_moment(now=None, country=country, time_zone=time_zone, **dates)
    return None if found is None else found[2]


def draft_due_at(saved_at):
    """When a draft saved at ``saved_at`` expires (its ``due_at``)."""
    return saved_at + datetime.timedelta(days=DRAFT_DAYS)


def due_for(*, now, country, time_zone, **dates):
    """The Due of a claim from its status and dates (``due_moment``'s keywords), or None."""
    found = due_moment(now=now, country=country, time_zone=time_zone, **dates)
    if found is None:
        return None
    kind, waiting_on, at = found
    today = now.astimezone(time_zone).date()
    overdue = now > at
    return Due(
        kind=kind,
        waiting_on=waiting_on,
        at=at,
        days_left=0 if overdue else business_days_between(today, at.date(), country=country),
        today=not overdue and at.date() == today,
        overdue=overdue,
    )


def claim_due(claim, *, now):
    """The Due of a claim (its tenant loaded, or at least the tenant's country), or None."""
    return due_for(
        now=now,
        country=claim.tenant.country if claim.tenant_id else None,
        time_zone=claim.time_zone,
        status=claim.status,
        status_changed_at=claim.status_changed_at,
        disputed_at=claim.disputed_at,
        response_deadline=claim.response_deadline,
        opt_out_deadline=claim.opt_out_deadline,
        draft_saved_at=claim.draft_saved_at,
    )


WAITING = {
    "review": gettext_noop("Waiting for the reviewer"),
    "answer": gettext_noop("Waiting for your answer"),
    "customer": gettext_noop("Waiting for the customer"),
    "dispute": gettext_noop("You may dispute the rejection until then"),
    "draft": gettext_noop("Waiting for you: submit the draft before it expires"),
}


def _waiting(due):
    # One lookup per row: the list shows 25 of them.
    return gettext(WAITING[due.kind])


def due_display(due, zone=None):
    """The words of a Due, ready to print (the list formats its cells in Python: filters per row cost more than
    its SQL), or None. ``left`` is never negative: "due today", "overdue" or the business days left. ``zone``:
    the viewer's, in which the date is given (the business days are the customer's)."""
    if due is None:
        return None
    at = due.at if zone is None else due.at.astimezone(zone)
    if due.overdue:
        left, state = pgettext("deadline", "overdue"), "overdue"
    elif due.today:
        left, state = pgettext("deadline", "due today"), "today"
    else:
        left = ngettext("%(count)s business day left", "%(count)s business days left", due.days_left) % {
            "count": due.days_left
        }
        state = ""
    return {
        "date": f"{at:%Y-%m-%d}",
        "iso": at.isoformat(),
        "at": due.at,
        "left": left,
        "state": state,
        "who": due.waiting_on,
        "waiting": _waiting(due),
    }
