"""A claim's windows (SPEC §6, §12, STYLE 3b): each stretch of time in which someone may act on a claim, computed
in one place and read by everyone (the rule book ``claims.policy``, the deadlines in sight ``claims.due``, the
services that store a deadline, the emails).

=================  =======================================================================  ==============
window             open while                                                               waiting on
=================  =======================================================================  ==============
review             submitted, under review or disputed: until 23:59:59 local on the 5th     the reviewer
                   business day after the status was entered (a dispute: ``disputed_at``)
answer             action required, until ``response_deadline`` (stored when the request    the partner
                   was made: ``answer_deadline_after``)
opt-out            awaiting the customer, until ``opt_out_deadline`` (stored when the       the customer
                   notice was delivered: ``opt_out_deadline_after``)
dispute            rejected and never disputed: until 23:59:59 local on the DISPUTE_DAYS-th  the partner
                   calendar day after the rejection
draft              a draft, until DRAFT_DAYS after its last save (then it expires)          the partner
=================  =======================================================================  ==============

``ClaimWindows`` is a mixin of ``claims.models.Claim``; ``ClaimDates`` holds the same fields without a row (the
list's rows as values, tests). Pure: no database, no clock (``now`` defaults to the current time).
"""

import dataclasses
import datetime

from django.utils import timezone

from claims.deadlines import deadline_after, dispute_deadline
from claims.vocabulary import DRAFT_DAYS, ClaimStatus, OptOutWindow

PARTNER = "partner"
REVIEWER = "reviewer"
CUSTOMER = "customer"

# The statuses whose review window runs (a reviewer decides next).
REVIEW_STATUSES = (ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW, ClaimStatus.DISPUTED)


@dataclasses.dataclass(frozen=True)
class Window:
    """One window of a claim: ``kind`` (review, answer, customer, dispute, draft), who acts in it, when it ends
    (aware, in the claim's time zone) and whether it is open at the moment it was asked about."""

    kind: str
    waiting_on: str
    until: datetime.datetime
    open: bool


class ClaimWindows:
    """The windows of a claim, from its status and dates (``status``, ``status_changed_at``, ``disputed_at``,
    ``response_deadline``, ``opt_out_deadline``, ``draft_saved_at``) and its tenant's ``country`` and
    ``time_zone``."""

    # --- deadlines stored when a window starts ---------------------------------------------------------------

    def answer_deadline_after(self, moment):
        """The end of an information request's answer window when the request is made at ``moment`` (SPEC §6):
        23:59:59 on the fifth business day after that day, in the tenant's country and zone."""
        return deadline_after(moment, country=self.country, time_zone=self.time_zone)

    def opt_out_deadline_after(self, moment):
        """The end of the customer's opt-out window when the notice is accepted at ``moment`` (SPEC §6): the same
        five business days."""
        return deadline_after(moment, country=self.country, time_zone=self.time_zone)

    # --- the windows -------------------------------------------------------------------------------------------

    def review_window(self, now=None):
        """While a reviewer decides: 5 business days after submission, an answer or a dispute; None otherwise.
        Past its end the claim is overdue for review, never refused: ``open`` says whether it is on time."""
        if self.status not in REVIEW_STATUSES or self.status_changed_at is None:
            return None
        start = self.disputed_at if self.status == ClaimStatus.DISPUTED and self.disputed_at else self.status_changed_at
        until = deadline_after(start, country=self.country, time_zone=self.time_zone)
        return Window("review", REVIEWER, until, _now(now) <= until)

    def answer_window(self, now=None):
        """While the partner may answer an information request: until the stored ``response_deadline``; None when
        the claim waits for no answer."""
        if self.status != ClaimStatus.ACTION_REQUIRED or self.response_deadline is None:
            return None
        until = self.response_deadline.astimezone(self.time_zone)
        return Window("answer", PARTNER, until, _now(now) <= until)

    def opt_out_window(self, now=None):
        """Whether the customer can still opt out: only while awaiting the customer and before the deadline."""
        if self.status == ClaimStatus.OPTED_OUT:
            return OptOutWindow.OPTED_OUT
        window = self.customer_window(now)
        return OptOutWindow.OPEN if window is not None and window.open else OptOutWindow.CLOSED

    def customer_window(self, now=None):
        """The opt-out window as a Window: until the stored ``opt_out_deadline``; None before the notice is
        delivered and in every other status."""
        if self.status != ClaimStatus.CUSTOMER_NOTIFIED or self.opt_out_deadline is None:
            return None
        until = self.opt_out_deadline.astimezone(self.time_zone)
        return Window("customer", CUSTOMER, until, _now(now) <= until)

    def dispute_window(self, now=None):
        """A rejection's dispute window (SPEC §12): once, until 23:59:59 local on the DISPUTE_DAYS-th day after the
        rejection (rejected on 1 March: until 31 March). None unless the claim is ``rejected``; closed once it was
        disputed (a claim is disputed at most once) or past its end."""
        if self.status != ClaimStatus.REJECTED or self.status_changed_at is None:
            return None
        until = dispute_deadline(self.status_changed_at, time_zone=self.time_zone)
        return Window("dispute", PARTNER, until, self.disputed_at is None and _now(now) <= until)

    def draft_window(self, now=None):
        """A draft's life: DRAFT_DAYS after its last save, then it expires. None unless the claim is a draft."""
        if self.status != ClaimStatus.DRAFT or self.draft_saved_at is None:
            return None
        until = (self.draft_saved_at + DRAFT_LIFE).astimezone(self.time_zone)
        return Window("draft", PARTNER, until, _now(now) <= until)

    def window_now(self, now=None):
        """The window the claim waits in now, whichever its status (one at most), or None."""
        for window in (
            self.review_window,
            self.answer_window,
            self.customer_window,
            self.dispute_window,
            self.draft_window,
        ):
            found = window(now)
            if found is not None:
                return found
        return None


def _now(now):
    return now or timezone.now()


# How long a draft lives after its last save.
DRAFT_LIFE = datetime.timedelta(days=DRAFT_DAYS)


def drafts_expired_before(now):
    """The last save before which a draft's window has closed at ``now`` (``draft_window``), for the expiry sweep's
    query: a draft saved earlier than this expires."""
    return now - DRAFT_LIFE


@dataclasses.dataclass
class ClaimDates(ClaimWindows):
    """A claim's status and dates without a row (``claims.due.due_for``)."""

    status: str
    country: str | None = None
    time_zone: datetime.tzinfo = datetime.UTC
    status_changed_at: datetime.datetime | None = None
    disputed_at: datetime.datetime | None = None
    response_deadline: datetime.datetime | None = None
    opt_out_deadline: datetime.datetime | None = None
    draft_saved_at: datetime.datetime | None = None
