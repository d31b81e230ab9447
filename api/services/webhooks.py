"""Webhooks (SPEC §16): endpoints, their outbox and its delivery, signed per the Standard Webhooks specification.

1. Every history row is written by ``claims.services.transitions``, which tells its EVENT_HOOKS in the same
   transaction: ``deliveries_add`` writes one WebhookDelivery per (endpoint subscribed to one of the row's event
   types, row) in one statement, and wakes the sender after commit. A rolled-back status change has no webhook.
2. ``deliveries_send_due`` (a task after commit, and beat's sweep every 30 seconds) claims due rows (pending ->
   sending, committed before anything is sent, SKIP LOCKED), signs each message (``standardwebhooks``), checks the
   endpoint's address again (``api.ssrf``) and POSTs it to that address, then records the attempt in the log.
3. A 2xx answer: delivered, never sent again by itself. Anything else: the row is due again after a backoff
   doubling from 30 seconds up to 6 hours; an endpoint whose attempts have all failed for 3 days is disabled and
   its owner emailed (through the email outbox). A row left in "sending" by a worker that died is not sent again
   by itself (it may have arrived): the log shows it and **Redeliver** sends it.
"""

import base64
import datetime
import json
import logging
import random
import secrets
import time

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from api import ssrf
from api.events import event_payload, event_types, message_id
from api.jobs import task_send_on_commit
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from claims.models import Claim, EmailNotification

logger = logging.getLogger(__name__)

RETRY_FIRST = datetime.timedelta(seconds=30)
RETRY_CAP = datetime.timedelta(hours=6)
RETRY_JITTER = 0.2
DISABLE_AFTER = datetime.timedelta(days=3)
BATCH_SIZE = 20
SWEEP_SECONDS = 25.0


# --- endpoints ------------------------------------------------------------------------------------------------------


def webhook_secret_make():
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_endpoint_create(*, partner, user, url, event_types, description=""):
    """Register an endpoint after checking its address (``api.ssrf``: ValidationError at the field when refused).
    Returns it; its secret is shown once."""
    try:
        ssrf.target_check(url)
    except ssrf.AddressRefused as refused:
        raise ValidationError({"url": str(refused)}) from None
    return WebhookEndpoint.objects.create(
        partner=partner,
        created_by=user,
        url=url,
        description=description,
        event_types=sorted(set(event_types)),
        secret=webhook_secret_make(),
    )


def webhook_endpoint_enable(*, endpoint, enabled):
    """Disable an endpoint, or enable it again (its waiting deliveries are then sent: their schedule starts anew)."""
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            enabled=enabled, disabled_at=None if enabled else now, failing_since=None
        )
        if enabled:
            ids = list(
                WebhookDelivery.objects.filter(endpoint=endpoint, state=WebhookDelivery.State.PENDING).values_list(
                    "pk", flat=True
                )
            )
            WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now)
            if ids:
                deliveries_wake_on_commit(ids)
    endpoint.refresh_from_db()
    return endpoint


def webhook_delivery_redeliver(*, delivery):
    """**Redeliver**: send this delivery again now, whatever became of it (the partner asked for it)."""
    with transaction.atomic():
        # Not one being sent right now: that attempt decides.
        redelivered = (
            WebhookDelivery.objects.filter(pk=delivery.pk)
            .exclude(state=WebhookDelivery.State.SENDING)
            .update(state=WebhookDelivery.State.PENDING, next_attempt_at=timezone.now())
        )
        if redelivered:
            deliveries_wake_on_commit([delivery.pk])
    return bool(redelivered)


# --- the outbox -----------------------------------------------------------------------------------------------------


def deliveries_add(recorded):
    """EVENT_HOOKS: the deliveries of history rows just written (``RecordedEvents``), one statement for a batch."""
    types = event_types(
        actor=recorded.actor, action=recorded.action, old_status=recorded.old_status, new_status=recorded.new_status
    )
    if not types:
        return
    claim_ids, event_ids = zip(*recorded.event_ids.items(), strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO api_webhookdelivery (endpoint_id, claim_event_id, event_type, state, attempts, created_at,
                                             next_attempt_at, last_error)
            SELECT e.id, v.event_id,
                   (SELECT t.name FROM unnest(%(types)s::text[]) WITH ORDINALITY AS t(name, n)
                    WHERE t.name = ANY(e.event_types) ORDER BY t.n LIMIT 1),
                   'pending', 0, %(now)s, %(now)s, ''
            FROM unnest(%(claims)s::bigint[], %(events)s::bigint[]) AS v(claim_id, event_id)
            JOIN claims_claim c ON c.id = v.claim_id
            JOIN api_webhookendpoint e ON e.partner_id = c.partner_id AND e.enabled
                 AND e.event_types && %(types)s::varchar[]
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            {"types": types, "claims": list(claim_ids), "events": list(event_ids), "now": timezone.now()},
        )
        ids = [pk for (pk,) in cursor.fetchall()]
    if ids:
        deliveries_wake_on_commit(ids)


def deliveries_wake_on_commit(ids):
    task_send_on_commit("api.tasks.webhook_deliveries_send_task", delivery_ids=list(ids))


def retry_delay(attempts, *, jitter=None):
    """How long a delivery waits after its ``attempts``-th failure: 30 s doubling up to 6 hours, up to 20% less at
    random (deliveries that failed together do not all come back in the same second)."""
    base = min(RETRY_CAP, RETRY_FIRST * 2 ** min(max(attempts - 1, 0), 20))
    return base * (1 - RETRY_JITTER * (random.random() if jitter is None else jitter))


def _deliveries_claim(*, now, ids, limit):
    """Claim up to ``limit`` due deliveries of enabled endpoints: pending -> sending, one more attempt; committed
    before anything is sent (a delivery is never sent twice by two sweeps). Returns their ids, oldest due first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH picked AS (
                SELECT d.id, d.next_attempt_at AS due FROM api_webhookdelivery d
                JOIN api_webhookendpoint e ON e.id = d.endpoint_id AND e.enabled
                WHERE d.state = 'pending' AND d.next_attempt_at <= %(now)s
                    AND (%(ids)s::bigint[] IS NULL OR d.id = ANY(%(ids)s::bigint[]))
                ORDER BY d.next_attempt_at, d.id
                LIMIT %(limit)s
                FOR UPDATE OF d SKIP LOCKED
            )
            UPDATE api_webhookdelivery AS d SET state = 'sending', attempts = d.attempts + 1
            FROM picked WHERE d.id = picked.id
            RETURNING d.id, picked.due
            """,
            {"now": now, "ids": list(ids) if ids is not None else None, "limit": limit},
        )
        return [pk for pk, _ in sorted(cursor.fetchall(), key=lambda row: (row[1], row[0]))]


def deliveries_send_due(*, ids=None, now=None, time_budget=SWEEP_SECONDS):
    """Send the due deliveries (``ids``: only these), batch after batch for up to ``time_budget`` seconds.
    Returns how many were delivered."""
    started = time.monotonic()
    delivered = 0
    while time.monotonic() - started < time_budget:
        claimed = _deliveries_claim(now=now or timezone.now(), ids=ids, limit=BATCH_SIZE)
        if not claimed:
            break
        rows = WebhookDelivery.objects.select_related("endpoint", "claim_event").filter(pk__in=claimed)
        claims = {c.pk: c for c in Claim.objects.filter(pk__in={row.claim_event.claim_id for row in rows})}
        for row in sorted(rows, key=lambda r: claimed.index(r.pk)):
            delivered += delivery_send(row, claim=claims[row.claim_event.claim_id], now=now)
    return delivered


def delivery_sign(*, delivery, event, claim, at):
    """The body and the Standard Webhooks headers of a delivery's message, signed at ``at``."""
    body = json.dumps(event_payload(delivery=delivery, event=event, claim=claim), separators=(",", ":"))
    msg_id = message_id(event.pk)
    signature = Webhook(delivery.endpoint.secret).sign(msg_id=msg_id, timestamp=at, data=body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "CPOR-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
    return body, headers


def delivery_send(delivery, *, claim, now=None):
    """One attempt of a claimed (``sending``) delivery; returns 1 when delivered, else 0."""
    endpoint, event = delivery.endpoint, delivery.claim_event
    attempted_at = now or timezone.now()
    redelivery = delivery.delivered_at is not None
    started = time.monotonic()
    status, error, excerpt = None, "", ""
    try:
        target = ssrf.target_check(endpoint.url)  # again, right before sending (the name may point elsewhere now)
        body, headers = delivery_sign(delivery=delivery, event=event, claim=claim, at=attempted_at)
        response = ssrf.post(target, body=body.encode(), headers=headers)
        status, excerpt = response.status, response.excerpt
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except ssrf.AddressRefused as refused:
        error = str(refused)
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
    duration = int((time.monotonic() - started) * 1000)
    ok = not error
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            started_at=attempted_at,
            duration_ms=duration,
            status_code=status,
            error=error,
            response_excerpt=excerpt,
            redelivery=redelivery,
        )
        rows = WebhookDelivery.objects.filter(pk=delivery.pk, state=WebhookDelivery.State.SENDING)
        if ok:
            rows.update(
                state=WebhookDelivery.State.DELIVERED, delivered_at=attempted_at, last_status=status, last_error=""
            )
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        else:
            rows.update(
                state=WebhookDelivery.State.PENDING,
                next_attempt_at=attempted_at + retry_delay(delivery.attempts),
                last_status=status,
                last_error=error,
            )
            _endpoint_failed(endpoint, now=attempted_at)
    return int(ok)


def _endpoint_failed(endpoint, *, now):
    """A failed attempt: the endpoint fails since now (unless it already did); after DISABLE_AFTER of failing it is
    disabled and its owner emailed, once (the UPDATE that disables it decides who writes the email)."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint.pk, enabled=True, failing_since__lte=now - DISABLE_AFTER
    ).update(enabled=False, disabled_at=now)
    if disabled:
        owner = get_user_model().objects.filter(pk=endpoint.created_by_id).first()
        address = (owner.email or owner.username) if owner is not None else ""
        if address:
            notification = EmailNotification.objects.create(
                kind=EmailNotification.Kind.WEBHOOK_DISABLED,
                user=owner,
                address=address.lower(),
                reference=str(endpoint.pk),
                next_attempt_at=now,
            )
            from claims.services.notifications import emails_enqueue_on_commit

            emails_enqueue_on_commit([notification.pk])
        logger.warning("Webhook endpoint %s failed for %s and was disabled", endpoint.pk, DISABLE_AFTER)


def hooks_register():
    """Plug the webhooks into claims (at start-up: ``api.apps``): its history rows' hook and the outbox's email."""
    from claims import emails
    from claims.services import transitions

    if deliveries_add not in transitions.EVENT_HOOKS:
        transitions.EVENT_HOOKS.append(deliveries_add)
    from api.emails import webhook_disabled_email

    emails.ACCOUNT_EMAIL_BUILDERS[EmailNotification.Kind.WEBHOOK_DISABLED] = webhook_disabled_email
