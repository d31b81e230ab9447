"""Writes and workflows for claims: views, admin actions and tasks call these; nothing else writes claims.

One module per concern: ``submission`` (the wizard's uploads and submit), ``transitions`` (the one write of every
status change), ``validation``, ``review`` (approve, request information, reject, the partner's answer, the
customer's opt-out), ``reminders`` (the answer's reminder email), ``finalization`` (official, ended),
``notifications`` (the outbox and sending), ``customer`` (the customer's page: approve now, opt out per
item, decline later), ``notices`` (the customer's notice: delivery starts the opt-out window,
a refusal or a bounce sends the claim back to the partner), ``password_resets`` (a reset's email, through the
outbox), ``counts`` (the list's counters). Every status change goes through ``claims_transition``: it checks the
move, moves the rows with a compare-and-set on the old status, writes one ClaimEvent per claim and the outbox rows,
and the emails are enqueued after commit.
"""

from claims.services.counts import claim_counts_compact, claim_counts_lock
from claims.services.finalization import associations_end_expired, claim_disassociate, claims_finalize_due
from claims.services.notices import (
    BounceRefused,
    BounceResult,
    claim_notice_delivered,
    claim_notice_undeliverable,
    email_bounce_receive,
)
from claims.services.notifications import (
    email_notification_send,
    email_notifications_mark_sent,
    email_notifications_send_again,
    emails_send_due,
)
from claims.services.password_resets import password_reset_request
from claims.services.reminders import answer_reminders_send
from claims.services.review import (
    AnswerRefused,
    OptOutResult,
    claim_approve,
    claim_opt_out,
    claim_reject,
    claim_request_information,
    claim_respond,
    claims_expire_information_requests,
)
from claims.services.submission import (
    PoeStorageError,
    claim_items_plan,
    claim_submit,
    pending_upload_create,
    pending_upload_delete,
    pending_uploads_discard,
    pending_uploads_purge,
)
from claims.services.transitions import (
    ClaimStatusConflict,
    PartnerActionRefused,
    claim_event_record,
    claim_transition,
    claims_transition,
)
from claims.services.validation import (
    claim_validate,
    claims_requeue_unvalidated,
    claims_validate,
    claims_validate_waiting,
)

__all__ = [
    "AnswerRefused",
    "BounceRefused",
    "BounceResult",
    "ClaimStatusConflict",
    "OptOutResult",
    "PartnerActionRefused",
    "PoeStorageError",
    "answer_reminders_send",
    "associations_end_expired",
    "claim_approve",
    "claim_counts_compact",
    "claim_counts_lock",
    "claim_disassociate",
    "claim_event_record",
    "claim_items_plan",
    "claim_notice_delivered",
    "claim_notice_undeliverable",
    "claim_opt_out",
    "claim_reject",
    "claim_request_information",
    "claim_respond",
    "claim_submit",
    "claim_transition",
    "claim_validate",
    "claims_expire_information_requests",
    "claims_finalize_due",
    "claims_requeue_unvalidated",
    "claims_transition",
    "claims_validate",
    "claims_validate_waiting",
    "email_bounce_receive",
    "email_notification_send",
    "email_notifications_mark_sent",
    "email_notifications_send_again",
    "emails_send_due",
    "password_reset_request",
    "pending_upload_create",
    "pending_upload_delete",
    "pending_uploads_discard",
    "pending_uploads_purge",
]
