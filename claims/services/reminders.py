"""The reminder email one business day before an answer is due (SPEC §12), once per information request.

A claim waiting for the partner's answer (``action_required``) has its ``response_deadline``: 23:59:59 on the 5th
business day of the tenant's country, in the tenant's time zone (``claims.deadlines``). On the business day before
that day, from ``REMINDER_LOCAL_TIME`` local time, a sweep (beat, ``answer_reminders_send_task``) queues an
ANSWER_REMINDER email to the partner contact. The outbox row belongs to the claim's current request (the latest
event that moved it to ``action_required``), so the unique (event, kind) constraint sends it once per request
however often the sweep runs, and a second request gets its own reminder.
"""

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from associations.models import Tenant
from claims.deadlines import business_day_add
from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification
from claims.services.notifications import outbox_add

# The hour the reminder goes out on the business day before the due day, in the tenant's time zone.
REMINDER_LOCAL_TIME = datetime.time(9, 0)
# How far ahead of a deadline the sweep looks: more than any run of public holidays before a due day.
REMINDER_LOOKAHEAD = datetime.timedelta(days=21)


def business_day_before(day, *, country):
    """The last business day before ``day`` (a date)."""
    candidate = day - datetime.timedelta(days=1)
    # ``candidate`` is a business day exactly when it is the first business day after the day before it.
    while business_day_add(candidate - datetime.timedelta(days=1), 1, country=country) != candidate:
        candidate -= datetime.timedelta(days=1)
    return candidate


def answer_reminder_at(deadline, *, country, time_zone):
    """When the reminder of an answer due at ``deadline`` goes out: REMINDER_LOCAL_TIME on the business day before
    the deadline's local day, in ``time_zone`` (aware)."""
    due_day = deadline.astimezone(time_zone).date()
    return datetime.datetime.combine(
        business_day_before(due_day, country=country), REMINDER_LOCAL_TIME, tzinfo=time_zone
    )


def _request_event_id():
    """The claim's current information request: its latest event that moved it to ``action_required``."""
    return Subquery(
        ClaimEvent.objects.filter(claim_id=OuterRef("pk"), new_status=ClaimStatus.ACTION_REQUIRED)
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )


def answer_reminders_send(*, now=None):
    """Queue the reminder of every ``action_required`` claim whose answer is due within one business day (and
    not yet reminded for its current request). Returns how many were queued.

    The claims are read under their row locks (SKIP LOCKED: a claim being answered right now is skipped, and its
    answer moves it out of the window), so a reminder is only queued for a claim still waiting; an email whose
    request was answered before it went out is not sent (``claims.emails.answer_reminder_email``).
    """
    now = now or timezone.now()
    reminded = EmailNotification.objects.filter(
        event_id=OuterRef("request_event_id"), kind=EmailNotification.Kind.ANSWER_REMINDER
    )
    zones = {}
    with transaction.atomic():
        claims = list(
            Claim.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
            .filter(
                status=ClaimStatus.ACTION_REQUIRED,
                response_deadline__gt=now,
                response_deadline__lte=now + REMINDER_LOOKAHEAD,
            )
            .annotate(request_event_id=_request_event_id())
            .filter(request_event_id__isnull=False)
            .exclude(Exists(reminded))
            .select_related("tenant")
            .only("pk", "response_deadline", "directory_id", "tenant__country")
            .order_by("response_deadline", "pk")
        )
        rows = []
        for claim in claims:
            tenant = claim.tenant or Tenant.objects.filter(directory_id=claim.directory_id).first()
            if tenant is None:
                continue
            key = (claim.response_deadline, tenant.country)
            if key not in zones:
                zones[key] = answer_reminder_at(
                    claim.response_deadline, country=tenant.country, time_zone=tenant.time_zone
                )
            if now >= zones[key]:
                rows.append((claim.pk, EmailNotification.Kind.ANSWER_REMINDER, None, claim.request_event_id))
        outbox_add(rows)
    return len(rows)
