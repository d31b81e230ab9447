"""Deadlines in sight (SPEC §12): when each open claim is due, whose turn it is, and the business days left.

Pure functions: no database, no clock (callers pass ``now``). What is due is the end of the window the claim waits
in now, as ``claims.windows`` computes each (review, answer, opt-out, dispute, draft), with whose turn it is.

Every other status (and a rejected claim past its dispute window) has nothing due. Dates are the tenant's: its
country's public holidays and main time zone; a claim with no tenant (unresolved) uses UTC and weekends only.
"""

import dataclasses
import datetime

from django.utils.translation import gettext, gettext_noop, ngettext, pgettext

from claims.deadlines import business_days_between
from claims.windows import CUSTOMER, DRAFT_LIFE, PARTNER, REVIEWER, ClaimDates  # noqa: F401 (re-exported)

# The list's filter of the claims waiting for the partner (ClaimStatus.needs_action), as the navigation links to it.
NEEDS_ACTION = "needs_action"


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


def claim_due(claim, *, now):
    """The Due of a claim (its tenant loaded, or at least the tenant's country), or None: the window it waits in
    now (``claims.windows``). A rejection past its dispute window (or disputed already) has nothing left to do: the
    claim page offers a copy instead (SPEC §12); every other window past its end is overdue."""
    window = claim.window_now(now)
    if window is None or (window.kind == "dispute" and not window.open):
        return None
    today = now.astimezone(claim.time_zone).date()
    overdue = now > window.until
    return Due(
        kind=window.kind,
        waiting_on=window.waiting_on,
        at=window.until,
        days_left=0 if overdue else business_days_between(today, window.until.date(), country=claim.country),
        today=not overdue and window.until.date() == today,
        overdue=overdue,
    )


def due_at_stored(*, country, time_zone, **dates):
    """``Claim.due_at``: when what a claim waits for ends (``ClaimDates``' fields), or None; the list sorts by it
    and ``claims.services.due`` keeps it. Unlike the pages, a rejection's dispute window counts until its end,
    whatever the clock says (``claims_due_lapse`` then clears it); one that was disputed has nothing due."""
    window = ClaimDates(country=country, time_zone=time_zone, **dates).window_now()
    if window is None or (window.kind == "dispute" and dates.get("disputed_at") is not None):
        return None
    return window.until


def draft_due_at(saved_at):
    """When a draft saved at ``saved_at`` expires (its ``due_at``)."""
    return saved_at + DRAFT_LIFE


def due_for(*, now, country, time_zone, **dates):
    """The Due of a claim from its status and dates (``claims.windows.ClaimDates``' fields), or None."""
    return claim_due(ClaimDates(country=country, time_zone=time_zone, **dates), now=now)


WAITING = {
    "review": gettext_noop("Waiting for the reviewer"),
    "answer": gettext_noop("Waiting for your answer"),
    "customer": gettext_noop("Waiting for the customer"),
    "dispute": gettext_noop("You may dispute the rejection until then"),
    "draft": gettext_noop("Waiting for you: submit the draft before it expires"),
}


# The same, to a partner user who views and never acts (an incentives user, claims.policy): what waits for the
# partner waits for their company, never for them.
WAITING_COMPANY = {
    "answer": gettext_noop("Waiting for your company's answer"),
    "dispute": gettext_noop("Waiting for your company: it may dispute the rejection until then"),
    "draft": gettext_noop("Waiting for your company: the draft expires unless it is submitted"),
}


def _waiting(due, acts=True):
    # One lookup per row: the list shows 25 of them.
    return gettext(WAITING[due.kind] if acts else WAITING_COMPANY.get(due.kind, WAITING[due.kind]))


def due_display(due, *, acts=True, zone=None):
    """The words of a Due, ready to print (the list formats its cells in Python: filters per row cost more than
    its SQL), or None. ``left`` is never negative: "due today", "overdue" or the business days left. ``acts``:
    whether the reader acts for the partner (``claims.policy.Viewer.acts``); otherwise what waits for the partner
    is said to wait for their company. ``zone``: the viewer's, in which the date is given (the business days are
    the customer's)."""
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
        "waiting": _waiting(due, acts),
    }
