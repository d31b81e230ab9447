"""Which history rows are which webhook events (SPEC §16), and what a delivery says.

A history row (ClaimEvent) is one webhook message per endpoint that subscribed to any of its types: the first of
its types (the most specific) that the endpoint picked names it. Rows that move no status and end no item (an
answer's edits, POE added, a notice delivered) are no webhook event.
"""

from django.conf import settings
from django.urls import reverse

from api.models import WebhookEvent
from claims.models import ClaimEvent, ClaimStatus

E = WebhookEvent
CUSTOMER = ClaimEvent.Actor.CUSTOMER


def event_types(*, actor, action, old_status, new_status):
    """The webhook event types of a history row, the most specific first ([] when it is none)."""
    by_customer = actor == CUSTOMER
    if new_status and new_status != old_status:
        types = {
            ClaimStatus.ACTION_REQUIRED: [E.INFORMATION_REQUESTED],
            ClaimStatus.OFFICIAL: [E.CUSTOMER_APPROVED] * by_customer + [E.ASSOCIATION_OFFICIAL],
            ClaimStatus.OPTED_OUT: [E.CUSTOMER_DECLINED],
            ClaimStatus.ENDED: [E.CUSTOMER_DECLINED] * by_customer + [E.ASSOCIATION_ENDED],
        }.get(new_status, [])
        return [str(t) for t in [*types, E.STATUS_CHANGED]]
    if action == ClaimEvent.Action.ITEM_OPTED_OUT:
        return [str(E.CUSTOMER_DECLINED)]
    if action == ClaimEvent.Action.ITEM_DECLINED:
        return [str(E.CUSTOMER_DECLINED), str(E.ASSOCIATION_ENDED)]
    return []


def message_id(event_id):
    """The Standard Webhooks ``webhook-id`` of a history row's message: the same for every attempt and every
    endpoint, so that a receiver drops a copy it already has."""
    return f"cpor_evt_{event_id}"


def event_payload(*, delivery, event, claim):
    """The JSON body of a delivery (Standard Webhooks: ``type``, ``timestamp``, ``data``)."""
    return {
        "type": delivery.event_type,
        "timestamp": event.created_at.isoformat(),
        "data": {
            "claim": {
                "id": claim.pk,
                "name": claim.name,
                "status": claim.status,
                "url": settings.SITE_URL + reverse("api-v1:claim_get", kwargs={"claim_id": claim.pk}),
            },
            "event": {
                "id": event.pk,
                "action": event.action,
                "actor": event.actor,
                "old_status": event.old_status or None,
                "new_status": event.new_status or None,
                "reason": event.reason or None,
                "message": event.message or None,
                "created_at": event.created_at.isoformat(),
            },
        },
    }
