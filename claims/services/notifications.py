"""The outbox: one EmailNotification row per email, written in the transaction that caused it, sent at most once
(SPEC §5, §11) on one retry schedule driven by the row (SPEC §14 "Outages").

A pending row is due at its ``next_attempt_at``. ``emails_send_due`` claims due rows in batches (pending ->
sending, committed before anything is sent), sends them over one SMTP connection and either marks them sent, or
puts them back to pending with a later ``next_attempt_at`` (transient failure), or marks them failed. Beat runs it
every 30 seconds (``emails_send_due_task``): a run goes on batch after batch while due rows are left, for up to
``EMAIL_SWEEP_SECONDS``; after a commit that queued emails, a task wakes it for those rows at once.

A batch costs a few statements whatever its size (SPEC §11: a backlog drains at hundreds of emails a second per
worker): the rows claimed in one UPDATE, read with their claims in one query and what their messages show in a few
more (``claims.emails.notification_emails_prefetch``), their outcomes written in one UPDATE at the end.

No task carries a countdown and no failure enqueues anything (a sweep run that runs out of time sends the next run
at once, nothing more): however many times the sweep or the wake-up task run, a row is only tried when it is due,
so each email has exactly one retry chain, its row.

Every message goes out with an envelope sender of its own (``claims.bounces``: VERP, signed), so that a bounce
names its row. What an outcome means beyond the row is the business of the layer above: ``DELIVERY_HOOKS`` (filled
by ``claims.services.notices`` for the customer's notice, whose acceptance starts the opt-out window and whose
permanent failure sends the claim back to the partner) run in the transaction that records the outcome.
"""

import dataclasses
import datetime
import logging
import random
import smtplib
import time
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import mailers
from django.db import connection, transaction
from django.utils import timezone

from claims import emails
from claims.bounces import bounce_address
from claims.models import ClaimStatus, EmailNotification
from claims.services.jobs import task_send_on_commit
from claims.services.smtp_replies import (
    answers_lowered,
    mailer_close,
    refused_text,
    smtp_error_text,
    smtp_session_usable_after,
    smtp_transient,
)

logger = logging.getLogger(__name__)

EMAIL_KIND_FOR_STATUS = {
    ClaimStatus.CUSTOMER_NOTIFIED: EmailNotification.Kind.CUSTOMER_NOTIFIED,
    ClaimStatus.ACTION_REQUIRED: EmailNotification.Kind.ACTION_REQUIRED,
    ClaimStatus.REJECTED: EmailNotification.Kind.REJECTED,
    ClaimStatus.OFFICIAL: EmailNotification.Kind.OFFICIAL,
    ClaimStatus.OPTED_OUT: EmailNotification.Kind.OPTED_OUT,
    ClaimStatus.ENDED: EmailNotification.Kind.ENDED,
    ClaimStatus.REJECTED_FINAL: EmailNotification.Kind.REJECTED_FINAL,
}

# One retry schedule per email, driven by its row (SPEC §14 "Outages"): after the n-th failed attempt the row is
# due again 1 minute * 2**(n-1) later, capped at 24 hours, and the 14th failed attempt gives up. The attempts
# fall at 0, 1, 3, 7, ... minutes, then 34 h, 58 h and 82 h (a little earlier with jitter): an SMTP server
# failing for hours, or for up to about three days, loses no email.
EMAIL_RETRY_FIRST = datetime.timedelta(minutes=1)
EMAIL_RETRY_CAP = datetime.timedelta(hours=24)
EMAIL_RETRY_JITTER = 0.2
EMAIL_MAX_ATTEMPTS = 14
# Rows claimed per batch: each batch costs a handful of statements whatever its size (claimed in one UPDATE, read
# in a few queries, its outcomes written in one UPDATE), and a worker that dies mid-batch leaves at most this many
# rows in ``sending``. Batches go over one SMTP connection.
EMAIL_BATCH_SIZE = 50
# A sweep run claims batch after batch while due rows are left (a backlog after an outage drains at the worker's
# rate, not a fixed number per run), and starts no new batch after this many seconds. A constant, not a setting:
# it follows beat's 30-second schedule of the sweep (cpor/celery.py). The run ends before the next one is due, so
# runs never pile up in the queue behind each other, and the worker takes its other tasks (validation,
# finalization) between them; a run that ran out of time sends the next one at once, which goes on with the
# backlog.
EMAIL_SWEEP_SECONDS = 25.0

# {kind: hooks} for the outcomes that matter beyond the outbox, filled by the services above this module (which
# sits below the transition write they need: .importlinter). Each hook object has
# ``message_recipient(row)``: the address whose copy decides the row (None: any recipient's);
# ``awaited_among(rows)``: the ids of those rows (a batch, read with their claims) still worth sending (the others
# are marked failed, unsent);
# ``sent(rows, attempted_at)``: called in the transaction that marks those rows sent (a batch's, at its end);
# ``failed(row, error, now)``: called in the transaction that marks the row failed for good (a permanent refusal,
# or the retry schedule giving up), at once.
DELIVERY_HOOKS = {}


def outbox_add_for_transition(*, event_ids, status):
    """The emails a move to ``status`` sends, if any: one per claim, belonging to the move's event
    (``event_ids``: {claim_id: event id})."""
    kind = EMAIL_KIND_FOR_STATUS.get(status)
    if kind:
        outbox_add([(claim_id, kind, None, event_id) for claim_id, event_id in event_ids.items()])


def outbox_add(rows):
    """Queue emails: ``rows`` are (claim_id, kind, association_id, event_id). Sent after commit, each at most once.

    One INSERT from arrays (at batch sizes bulk_create's per-object work cost more than the insert itself). The
    partial unique constraints on EmailNotification make a second row for the same (event, kind) or (claim, kind,
    association) a no-op: each email belongs to the event that caused it and is sent at most once per event,
    however often a job runs; a second information request is a second event and gets its own email.
    """
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO claims_emailnotification (claim_id, kind, association_id, event_id, state, created_at,
                                                  attempts, last_error, next_attempt_at, message_id)
            SELECT v.claim_id, v.kind, v.association_id, v.event_id, %(pending)s, %(now)s, 0, '', %(now)s, ''
            FROM unnest(%(claims)s::bigint[], %(kinds)s::text[], %(associations)s::bigint[], %(events)s::bigint[])
                AS v(claim_id, kind, association_id, event_id)
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            {
                "claims": [row[0] for row in rows],
                "kinds": [str(row[1]) for row in rows],
                "associations": [row[2] for row in rows],
                "events": [row[3] for row in rows],
                "pending": str(EmailNotification.State.PENDING),
                "now": timezone.now(),
            },
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    if ids:
        # Due now: the task sends them at once. With the broker down the sweep (beat) sends them instead.
        emails_enqueue_on_commit(ids)


def emails_enqueue_on_commit(ids):
    task_send_on_commit("email_notifications_send_task", notification_ids=list(ids))


def email_retry_delay(attempts, *, jitter=None):
    """How long a row waits after its ``attempts``-th failed attempt: 1 minute doubling up to 24 hours, up to 20%
    sooner at random so that emails that failed together (an outage) do not all come back in the same second."""
    base = min(EMAIL_RETRY_CAP, EMAIL_RETRY_FIRST * 2 ** min(max(attempts - 1, 0), 20))
    return base * (1 - EMAIL_RETRY_JITTER * (random.random() if jitter is None else jitter))


def _message_id_domain():
    """The domain of the Message-IDs: the sender's, so receivers see ids of the domain that sends."""
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"


def _emails_claim(*, now, ids, limit):
    """Claim up to ``limit`` due rows: pending -> sending, one more attempt, a Message-ID drawn at the first.

    One statement, committed before anything is sent (at most once): a row another sweep holds is skipped (SKIP
    LOCKED), one already claimed is no longer pending. Returns the claimed ids, the longest-waiting first.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH picked AS (
                SELECT id, next_attempt_at AS due FROM claims_emailnotification
                WHERE state = %(pending)s AND next_attempt_at <= %(now)s
                    AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s::bigint[]))
                ORDER BY next_attempt_at, id
                LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            )
            UPDATE claims_emailnotification AS e
            SET state = %(sending)s,
                attempts = e.attempts + 1,
                -- From now on: when this attempt started (a notice states the deadline counted from it).
                next_attempt_at = %(now)s,
                message_id = CASE WHEN e.message_id = ''
                    THEN '<' || replace(gen_random_uuid()::text, '-', '') || '@' || %(domain)s || '>'
                    ELSE e.message_id END
            FROM picked
            WHERE e.id = picked.id
            RETURNING e.id, picked.due
            """,
            {
                "pending": str(EmailNotification.State.PENDING),
                "sending": str(EmailNotification.State.SENDING),
                "now": now,
                "ids": list(ids) if ids is not None else None,
                "limit": limit,
                "domain": _message_id_domain(),
            },
        )
        return [pk for pk, _ in sorted(cursor.fetchall(), key=lambda row: (row[1], row[0]))]


@dataclasses.dataclass
class _Outcomes:
    """A batch's outcomes, written at its end (``write``) rather than one UPDATE per email: the rows whose kind has
    no ``sent`` hook to run in one UPDATE; the rows sent whose kind has one (the customer's notice) in one more,
    in one transaction with their hooks. A permanent failure of a row with hooks is written at once, with its
    hook (``_email_failed``)."""

    now: datetime.datetime
    # (row, state, next_attempt_at, last_error, sent_at)
    rows: list = dataclasses.field(default_factory=list)
    delivered: list = dataclasses.field(default_factory=list)

    def sent(self, row, note="", *, hooks=True):
        """``note``: the recipients whose copies the server refused while it took the others'. ``hooks`` False:
        nothing was sent (nobody to send it to), so no hook runs."""
        outcome = (row, EmailNotification.State.SENT, None, note, self.now)
        (self.delivered if hooks and row.kind in DELIVERY_HOOKS else self.rows).append(outcome)

    def retry(self, row, delay, error):
        self.rows.append((row, EmailNotification.State.PENDING, self.now + delay, error, None))

    def failed(self, row, error):
        self.rows.append((row, EmailNotification.State.FAILED, None, error, None))

    def write(self):
        rows, self.rows = self.rows, []
        delivered, self.delivered = self.delivered, []
        if rows:
            _outcomes_update(rows)
        if delivered:
            with transaction.atomic():
                marked = _outcomes_update(delivered)
                for kind in dict.fromkeys(row.kind for row, *_ in delivered):
                    sent = [row for row, *_ in delivered if row.kind == kind and row.pk in marked]
                    if sent:
                        DELIVERY_HOOKS[kind].sent(sent, attempted_at=self.now)


def _outcomes_update(outcomes):
    """One UPDATE for ``outcomes`` (row, state, next_attempt_at, last_error, sent_at; None keeps the row's value);
    only rows still in ``sending`` (ours) change. Returns the ids it changed."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE claims_emailnotification AS e
            SET state = v.state,
                next_attempt_at = coalesce(v.next_attempt_at, e.next_attempt_at),
                last_error = v.last_error,
                sent_at = coalesce(v.sent_at, e.sent_at)
            FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[], %s::timestamptz[])
                AS v(id, state, next_attempt_at, last_error, sent_at)
            WHERE e.id = v.id AND e.state = %s
            RETURNING e.id
            """,
            [
                [row.pk for row, *_ in outcomes],
                [str(state) for _, state, *_ in outcomes],
                [due for _, _, due, *_ in outcomes],
                [error[:2000] for *_, error, _ in outcomes],
                [sent_at for *_, sent_at in outcomes],
                str(EmailNotification.State.SENDING),
            ],
        )
        return {pk for (pk,) in cursor.fetchall()}


def _email_failed(row, error, *, transient, now, outcomes, hooks=True):
    """Record a failed attempt: a transient one puts the row back on its schedule (or, at the last attempt, gives
    up), a permanent one marks it failed, and in the same transaction its kind's ``failed`` hook runs (unless
    ``hooks`` is False: a row not sent because nobody waits for it any more). Only a row still in ``sending``
    (ours) is changed. Without a hook to run, the outcome joins the batch's ``outcomes``."""
    if transient and row.attempts < EMAIL_MAX_ATTEMPTS:
        delay = email_retry_delay(row.attempts)
        logger.warning("email %s: attempt %s failed, next in %s: %s", row.pk, row.attempts, delay, error)
        outcomes.retry(row, delay, error)
        return
    if transient:
        error = f"Gave up after {row.attempts} attempts: {error}"
    logger.error("email %s failed: %s", row.pk, error)
    hook = DELIVERY_HOOKS.get(row.kind) if hooks else None
    if hook is None:
        outcomes.failed(row, error)
        return
    with transaction.atomic():
        marked = EmailNotification.objects.filter(pk=row.pk, state=EmailNotification.State.SENDING).update(
            state=EmailNotification.State.FAILED, last_error=error[:2000]
        )
        if marked:
            hook.failed(row, error=error[:2000], now=now)


def _batch_rows(ids):
    """The claimed rows ``ids`` in that order, with what their messages are built from: the row, its claim (with
    partner, location and tenant), event, association and user in one query, then what the builders read for the
    whole batch (``emails.notification_emails_prefetch``: a few queries, none per email)."""
    rows = EmailNotification.objects.select_related(
        "claim__partner",
        "claim__location",
        "claim__tenant",
        "event",
        "association__partner",
        "association__product",
        "user",
    ).filter(pk__in=ids)
    order = {pk: index for index, pk in enumerate(ids)}
    rows = sorted(rows, key=lambda row: order[row.pk])
    emails.notification_emails_prefetch(rows)
    return rows


def _emails_send_batch(ids, *, mailer, now):
    """Send the claimed rows ``ids`` over ``mailer``'s one connection. Returns (sent, server_failed).

    1. Read the rows and what their messages need in a few queries (``_batch_rows``); build each message with
       the row's Message-ID. A row that cannot be built (a bug) is marked failed and the others go on; a row with
       nobody to send to is marked sent.
    2. Send each on the open connection. The outcomes are written together at the end of the batch, also when
       it stops on an error (``_Outcomes``): one UPDATE, and one more with the ``sent`` hooks in its
       transaction for the rows sent whose kind has them (the customer's notice: its opt-out window starts). A
       permanent failure of such a row is written at once, with its hook. A worker that dies mid-batch leaves
       this batch's rows, the ones whose outcome was not written yet, in ``sending``: never sent twice.
    3. A transient failure that is the server's, not one mailbox's (refused connection, 4xx, lost session)
       counts as this batch's attempt for every row left: they wait their backoff instead of hammering a
       server in trouble. Errors opening the connection (down, TLS, credentials) are never an email's fault:
       always transient.
    """
    outcomes = _Outcomes(now=now)
    try:
        return _emails_send_rows(_batch_rows(ids), mailer=mailer, now=now, outcomes=outcomes)
    finally:
        outcomes.write()


def _emails_send_rows(rows, *, mailer, now, outcomes):
    sent = 0
    server_error = None
    awaited = _awaited(rows)
    for row in rows:
        if server_error is not None:
            _email_failed(row, server_error, transient=True, now=now, outcomes=outcomes)
            continue
        hook = DELIVERY_HOOKS.get(row.kind)
        if hook is not None and row.pk not in awaited:
            _email_failed(
                row,
                "Not sent: nobody waits for this email any more.",
                transient=False,
                now=now,
                outcomes=outcomes,
                hooks=False,
            )
            continue
        try:
            message = emails.notification_email(row, attempted_at=now)
        except Exception as exc:
            logger.exception("email %s could not be built", row.pk)
            _email_failed(row, f"The message could not be built: {exc!r}", transient=False, now=now, outcomes=outcomes)
            continue
        note = ""
        if message is not None:
            message.extra_headers["Message-ID"] = row.message_id
            # VERP (claims.bounces): the envelope sender names this row; the From header stays the display sender.
            message.extra_headers.setdefault("From", message.from_email)
            message.from_email = bounce_address(row.pk)
            recipient = hook.message_recipient(row) if hook is not None else None
            try:
                mailer.open()
            except (smtplib.SMTPException, OSError) as exc:
                server_error = f"Could not connect to the mail server: {smtp_error_text(exc)}"
                _email_failed(row, server_error, transient=True, now=now, outcomes=outcomes)
                continue
            try:
                mailer.send_messages([message])
            except (smtplib.SMTPException, OSError) as exc:
                transient = smtp_transient(exc, recipient)
                _email_failed(row, smtp_error_text(exc), transient=transient, now=now, outcomes=outcomes)
                if transient and not smtp_session_usable_after(exc):
                    server_error = f"Not tried: the mail server failed the batch ({smtp_error_text(exc)})"
                    mailer_close(mailer)
                continue
            except Exception as exc:  # an address the backend refuses (ValueError), a backend bug
                logger.exception("email %s could not be sent", row.pk)
                _email_failed(row, repr(exc), transient=False, now=now, outcomes=outcomes)
                continue
            # The server took the message, maybe not for every recipient (cpor.mail.SmtpBackend): when the copy
            # that decides the row was refused, the row failed (a retry sends the others' copies again, under the
            # same Message-ID); other refusals are noted on the sent row.
            refused = answers_lowered(getattr(message, "refused_recipients", None) or {})
            if recipient is not None and recipient in refused:
                code, _ = refused[recipient]
                _email_failed(row, refused_text(refused), transient=400 <= code < 500, now=now, outcomes=outcomes)
                continue
            note = f"Not accepted for: {refused_text(refused)}" if refused else ""
        outcomes.sent(row, note, hooks=message is not None)
        sent += 1
    return sent, server_error is not None


def _awaited(rows):
    """The ids of the rows with hooks that are still worth sending (one question per kind for the batch)."""
    awaited = set()
    for kind, hook in DELIVERY_HOOKS.items():
        of_kind = [row for row in rows if row.kind == kind]
        if of_kind:
            awaited |= hook.awaited_among(of_kind)
    return awaited


def emails_send_due(
    *, now=None, ids=None, batch_size=EMAIL_BATCH_SIZE, batches=None, seconds=EMAIL_SWEEP_SECONDS, follow_up=False
):
    """Send the due pending rows (only among ``ids`` when given), batch after batch over one SMTP connection, while
    full batches come; returns how many were sent. Stops at the first batch the server failed (the rest wait for
    their next attempt), after ``batches`` batches when given, and starts no batch once ``seconds`` have passed
    (the first always runs): what is left is due for the next run. With ``follow_up`` (the sweep task), a run that
    ran out of time sends the sweep task again at once: a backlog drains without waiting for beat's next tick,
    the worker's other queued tasks going first.

    Each batch is due at its own moment (``now`` when given, for all of them): a batch started 20 seconds into a
    run states the deadlines of its notices from when it started.

    Safe to run any number of times at once: rows are claimed with SKIP LOCKED and a conditional update, and
    a row not yet due is not touched, so running it more often never adds attempts.
    """
    mailer = mailers.default
    sent = 0
    done = 0
    started = _clock()
    out_of_time = False
    try:
        while True:
            moment = now or timezone.now()
            claimed = _emails_claim(now=moment, ids=ids, limit=batch_size)
            if not claimed:
                break
            batch_sent, server_failed = _emails_send_batch(claimed, mailer=mailer, now=moment)
            sent += batch_sent
            done += 1
            if server_failed or len(claimed) < batch_size or done == batches:
                break
            if _clock() - started >= seconds:
                out_of_time = True
                break
    finally:
        mailer_close(mailer)
    if out_of_time and follow_up:
        # Not a retry (nothing failed, no countdown): the next run of the sweep, now. A broker that is down only
        # leaves the rows to beat's next run.
        task_send_on_commit("emails_send_due_task")
    return sent


# The sweep's time budget is measured on this clock (tests replace it: they never measure durations).
_clock = time.monotonic


def email_notification_send(*, notification_id):
    """Send one row if it is pending and due (an old queued task, a test); True when it was sent."""
    return emails_send_due(ids=[notification_id], batch_size=1, batches=1) == 1


def email_notifications_send_again(*, notification_ids):
    """An admin's "Send again": a failed row, one stuck in ``sending`` (the worker died mid-send; someone checked
    the mail log) or one waiting for its next attempt becomes due now, and is sent after commit. A failed or
    stuck row starts a fresh schedule (attempts from 0). Returns how many rows were queued again."""
    now = timezone.now()
    rows = EmailNotification.objects.filter(pk__in=notification_ids)
    with transaction.atomic():
        restarted = rows.filter(state__in=[EmailNotification.State.SENDING, EmailNotification.State.FAILED]).update(
            state=EmailNotification.State.PENDING, attempts=0, next_attempt_at=now
        )
        hurried = rows.filter(state=EmailNotification.State.PENDING, next_attempt_at__gt=now).update(
            next_attempt_at=now
        )
    if restarted + hurried:
        emails_enqueue_on_commit(notification_ids)
    return restarted + hurried


def email_notifications_mark_sent(*, notification_ids):
    """An admin's "Mark as sent" for rows stuck in ``sending`` whose message the mail log shows delivered. Each
    row's ``sent`` hook runs as if the server had answered its attempt (a notice: the window counts from the
    attempt, as the message stated). Returns how many rows were marked."""
    marked = 0
    rows = EmailNotification.objects.filter(pk__in=notification_ids, state=EmailNotification.State.SENDING)
    for row in rows.select_related("claim__tenant").order_by("pk"):
        with transaction.atomic():
            if EmailNotification.objects.filter(pk=row.pk, state=EmailNotification.State.SENDING).update(
                state=EmailNotification.State.SENT, sent_at=timezone.now(), last_error=""
            ):
                marked += 1
                hook = DELIVERY_HOOKS.get(row.kind)
                if hook is not None:
                    hook.sent([row], attempted_at=row.next_attempt_at or row.created_at)
    return marked
