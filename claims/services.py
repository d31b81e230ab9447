"""Writes and workflows for claims. Views, admin actions and tasks call these; nothing else writes claims.

Every status change goes through ``claim_transition`` (see the lifecycle section), which checks the current
status under a row lock, saves with ``update_fields``, writes one ClaimEvent and schedules the emails.
"""

from django.utils import timezone

from claims.models import ClaimEvent


def claim_event_record(*, claim, actor, action, user=None, old_status="", new_status="", reason="", message=""):
    """Write one history row. Callers hold the transaction that made the change it records."""
    return ClaimEvent.objects.create(
        claim=claim,
        created_at=timezone.now(),
        actor=actor,
        user=user if user is not None and user.is_authenticated else None,
        action=action,
        old_status=old_status,
        new_status=new_status,
        reason=reason,
        message=message,
    )


# --- Submission (the wizard) ------------------------------------------------------------------------------------


# --- Lifecycle (validation, review, notification, opt-out, finalization) -----------------------------------------
