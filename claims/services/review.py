"""Review and the answers to it: the reviewer's decisions (approve, request information, reject), the partner's
answer, the expiry of unanswered requests, and the customer's opt-out."""

import copy

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from associations.models import Tenant
from claims.models import (
    CONTACT_FIELDS,
    Claim,
    ClaimEvent,
    ClaimItem,
    ClaimStatus,
    InformationReason,
    OptOutWindow,
    RejectionReason,
    item_key,
)
from claims.policy import APPROVABLE, REJECTABLE, ClaimRules, Edit, Refusal
from claims.reasons import english, reason_text
from claims.selectors.competition import contested_items
from claims.services.items import claim_items_end, item_keys_lock
from claims.services.submission import claim_poe_add
from claims.services.transitions import (
    ClaimStatusConflict,
    claim_event_record,
    claim_transition,
    claims_transition,
)
from claims.vocabulary import APPROVED_OVER_COMPETING


def _answer_deadline(claim, now):
    """The answer window's end for a request made ``now`` (``Claim.answer_deadline_after``); a claim whose tenant was
    not resolved yet counts in the tenant of its Directory ID."""
    if claim.tenant_id is None:
        claim = copy.copy(claim)
        claim.tenant = Tenant.objects.get(directory_id=claim.directory_id)
    return claim.answer_deadline_after(now)


# What a reviewer decides on: a claim under review, or a disputed one (SPEC §12: the same three decisions; a
# rejection of a claim that was disputed is final). The rule book's lists (claims.policy), checked again by the
# compare-and-set of each move.
REVIEWABLE = list(APPROVABLE)


class ApprovalNeedsConfirmation(ValueError):
    """Approving these items takes them from another partner who already has them awaiting the customer or
    official (SPEC §8): the reviewer confirms with a reason. ``contested``: {item id: the competitors}."""

    def __init__(self, contested):
        super().__init__(f"Items {sorted(contested)} are held by another partner's claim or association.")
        self.contested = contested


def claim_approve(*, claim, user, rejected_items=None, confirmation=""):
    """The reviewer approves: the claim awaits the customer and the customer's notice is queued. The opt-out window
    of SPEC §6 starts when the mail server accepts the notice, not now (``claims.services.notices``): until then
    the claim has no deadline.

    Per-item decisions (SPEC §8): ``rejected_items`` ({item id: (reason, message)}, a ``RejectionReason`` each) end
    those items (``claim_items_end``, outcome ``rejected``) and the claim goes on with the others; rejecting every
    item that goes on is rejecting the claim (``claim_reject``, with each item's reason).

    1. Under the claim's row lock, the rule book again (``ClaimRules.approve``: a reviewer, the claim under review
       or disputed); a claim moved meanwhile is ClaimStatusConflict.
    2. The items approved that another partner already has awaiting the customer or official
       (``contested_items``) need ``confirmation``, the reviewer's reason: without one ApprovalNeedsConfirmation and
       nothing is written; with one it is the approval event's message (reason ``over_competing``).
    3. The rejected items end, one history row each with its reason and message; then the move.
    """
    rejected_items = {int(pk): decision for pk, decision in (rejected_items or {}).items()}
    confirmation = (confirmation or "").strip()
    with transaction.atomic():
        locked = Claim.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=claim.pk)
        if not ClaimRules(locked, user).approve:
            raise ClaimStatusConflict(claim_id=claim.pk, current=locked.status, to=ClaimStatus.CUSTOMER_NOTIFIED)
        items = list(locked.items.going_on().select_related("product", "subscription").order_by("pk"))
        unknown = set(rejected_items) - {item.pk for item in items}
        if unknown:
            raise ValueError(f"Items {sorted(unknown)} are not items of claim {claim.pk} that go on.")
        approved = [item for item in items if item.pk not in rejected_items]
        if items and not approved:
            return _claim_reject_every_item(claim=claim, user=user, items=items, rejected_items=rejected_items)
        # Another reviewer approving a competing claim now waits here (and finalization of the same items): the one
        # after sees the other's claim awaiting the customer and is asked to confirm.
        item_keys_lock(
            [item_key(i.program, i.tenant_id or locked.tenant_id, i.product_id, i.subscription_id) for i in approved]
        )
        contested = contested_items(locked, items=approved)
        if contested and not confirmation:
            raise ApprovalNeedsConfirmation(contested)
        for item in items:
            if item.pk in rejected_items:
                reason, message = rejected_items[item.pk]
                claim_items_end(
                    claim=locked,
                    item_ids=[item.pk],
                    outcome=ClaimItem.Outcome.REJECTED,
                    actor=ClaimEvent.Actor.REVIEWER,
                    user=user,
                    reason=RejectionReason(reason).value,
                    message=(message or "").strip(),
                )
        return claim_transition(
            claim=claim,
            to=ClaimStatus.CUSTOMER_NOTIFIED,
            actor=ClaimEvent.Actor.REVIEWER,
            user=user,
            action=ClaimEvent.Action.APPROVED,
            reason=APPROVED_OVER_COMPETING if contested else "",
            message=confirmation if contested else "",
            from_statuses=REVIEWABLE,
        )


def _claim_reject_every_item(*, claim, user, items, rejected_items):
    """Every item rejected: the claim is rejected, for the first item's reason, with each item's reason (and note)
    among its rejection reasons ("Yammer was rejected: …", stored in English, shown in the reader's language)."""
    reasons, lines = [], []
    for item in items:
        reason, note = rejected_items[item.pk]
        reason, note = RejectionReason(reason), (note or "").strip()
        reasons.append(reason)
        words = {"product": item_label(item), "reason": english(reason.label), "note": note}
        lines.append(reason_text("item_rejected_note" if note else "item_rejected", **words))
    return claim_reject(claim=claim, user=user, reason=reasons[0], message="\n".join(lines), reasons=lines)


def claim_request_information(*, claim, user, reason, message):
    """The reviewer asks the partner for more; the partner has 5 business days to answer."""
    reason = InformationReason(reason)
    if reason not in dict(InformationReason.for_reviewers()):
        raise ValueError(f"{reason} is the system's reason, never a reviewer's")
    return claim_transition(
        claim=claim,
        to=ClaimStatus.ACTION_REQUIRED,
        actor=ClaimEvent.Actor.REVIEWER,
        user=user,
        action=ClaimEvent.Action.INFORMATION_REQUESTED,
        reason=reason,
        message=message.strip(),
        changes={"response_deadline": _answer_deadline(claim, timezone.now())},
        from_statuses=REVIEWABLE,
    )


def claim_reject(*, claim, user, reason, message="", reasons=None):
    """The reviewer rejects the claim for ``reason`` (and ``message``); ``reasons``: the rejection reasons the partner
    reads, when not the reason's words and the message (a rejection of every item: each item's)."""
    reason = RejectionReason(reason)
    if reasons is None:
        reasons = [english(reason.label)] + ([message.strip()] if message.strip() else [])
    with transaction.atomic():
        # Disputes (SPEC §12): a claim that was disputed once (a disputed claim, or one sent back for information
        # since) is rejected for good. disputed_at is read under the row lock, not from ``claim``, which the
        # reviewer's page may have loaded before the dispute.
        final = Claim.objects.select_for_update().filter(pk=claim.pk, disputed_at__isnull=False).exists()
        return claim_transition(
            claim=claim,
            to=ClaimStatus.REJECTED_FINAL if final else ClaimStatus.REJECTED,
            actor=ClaimEvent.Actor.REVIEWER,
            user=user,
            action=ClaimEvent.Action.DISPUTE_REJECTED if final else ClaimEvent.Action.REJECTED,
            reason=reason,
            message=message.strip(),
            changes={"rejection_reasons": reasons},
            from_statuses=list(REJECTABLE),
        )


class AnswerRefused(ValueError):
    """The answer does not do what its request asks (checked again under the row lock; the form says it first)."""


def claim_respond(*, claim, user, comment, files, location=None, contacts=None, remove_items=()):
    """The partner answers an information request (SPEC §12): a comment, more POE files and the edits allowed
    while the claim waits for the answer, then back to review.

    The answer to the system's ``notice_undeliverable`` request is a corrected customer contact address (and maybe
    other contact edits and a comment; no files, MPN ID or products): the claim goes straight back to
    ``customer_notified`` and the notice is sent again, the reviewer's approval standing (``claims.services.
    notices``). Its address must differ from the one the notice could not reach (AnswerRefused).

    ``files`` are (uploaded file, ``claims.uploads.CheckedUpload``) pairs: already checked by ``poe_check``
    (type by content, size). ``location`` is one of the partner's PartnerLocations, ``contacts`` {column: value}
    of the contact columns, ``remove_items`` the claim's ClaimItems to remove (never all: PostgreSQL keeps the
    last one). Values equal to the claim's change nothing.

    1. Store each file as a PendingUpload (row first, then object), like the wizard: a crash leaves only rows
       that the purge job cleans up.
    2. In one transaction, under the claim's row lock, the rule book again (``claims.policy``: still
       ``action_required``, within the answer window, by an incentives admin of its partner, and only the edits
       its request allows; PostgreSQL allows these edits only then): each edit with its CHANGED event (field,
       old and new value as text), then the move back to review (RESPONDED, the comment as its message), and the
       uploads become PoeDocuments (same keys).
    3. If the claim was moved meanwhile (or anything fails), delete the stored files again.
    """

    def write(locked, now, added):
        answer = ClaimRules(locked, user, now=now).answer
        if not answer:
            if answer.refusal in (Refusal.STATUS, Refusal.WINDOW):
                raise ClaimStatusConflict(claim_id=claim.pk, current=locked.status, to=ClaimStatus.UNDER_REVIEW)
            raise AnswerRefused(answer.why_not)
        correction = answer.notice_correction
        if correction:
            address = (contacts or {}).get("customer_contact_email", locked.customer_contact_email)
            if address.strip().lower() == locked.customer_contact_email.strip().lower():
                raise AnswerRefused(NOTICE_ADDRESS_UNCHANGED)
        relocated = location is not None and location.pk != locked.location_id
        if (
            (files and not answer.may(Edit.POE))
            or (remove_items and not answer.may(Edit.REMOVE_ITEMS))
            or (relocated and not answer.may(Edit.LOCATION))
        ):
            raise AnswerRefused(gettext("An answer to an undeliverable notice changes only the contacts."))
        _answer_edits_apply(
            claim=locked, user=user, location=location, contacts=contacts or {}, remove_items=remove_items
        )
        claim_transition(
            claim=claim,
            to=ClaimStatus.CUSTOMER_NOTIFIED if correction else ClaimStatus.UNDER_REVIEW,
            actor=ClaimEvent.Actor.PARTNER,
            user=user,
            action=ClaimEvent.Action.RESPONDED,
            message=comment.strip(),
            changes={"response_deadline": None},
            data=added,
            from_statuses=[ClaimStatus.ACTION_REQUIRED],
        )

    locked = claim_poe_add(claim=claim, user=user, files=files, write=write, in_response=True, key_prefix="respond")
    for name in ("location_id", *ANSWER_CONTACT_FIELDS):
        setattr(claim, name, getattr(locked, name))
    claim.location = locked.location
    return claim


# The contact columns an answer may change (with ``location_id``: migration 0010's ANSWER_EDITABLE).
ANSWER_CONTACT_FIELDS = CONTACT_FIELDS

NOTICE_ADDRESS_UNCHANGED = _(
    "The customer's notice could not be delivered to this address. Enter the customer contact's correct email "
    "address: the notice is sent to it again."
)


def location_label(location):
    """How the history and the answer form name an MPN ID: "1234567 · Contoso Taipei"."""
    return f"{location.mpn_id} · {location.name}"


def item_label(item):
    """How the history and the answer form name a claim's product: its name, and its subscription if any."""
    if item.subscription_id:
        return f"{item.product.name} · {item.subscription.subscription_id}"
    return item.product.name


def _answer_edits_apply(*, claim, user, location, contacts, remove_items):
    """The answer's edits on ``claim`` (locked, ``action_required``): one CHANGED event per changed field or
    removed product, with its old and new value as text, and in its ``data`` what it changed in the claim's content
    (``{"set": {column: value}}``, ``{"items_removed": [id]}``: SPEC §14). Returns how many there were."""
    changes, events = {}, []
    if location is not None and location.pk != claim.location_id:
        if location.partner_id != claim.partner_id:
            raise ValueError(f"Location {location.pk} is not one of claim {claim.pk}'s partner's.")
        changes["location_id"] = location.pk
        label, new_label = location_label(claim.location), location_label(location)
        events.append(("location", label, new_label, {"set": {"location_id": location.pk}}))
    for name in ANSWER_CONTACT_FIELDS:
        if name in contacts and contacts[name] != getattr(claim, name):
            changes[name] = contacts[name]
            events.append((name, getattr(claim, name), contacts[name], {"set": {name: contacts[name]}}))
    removed = list(
        ClaimItem.objects.filter(claim_id=claim.pk, pk__in=[item.pk for item in remove_items])
        .select_related("product", "subscription")
        .order_by("pk")
    )
    events += [("product", item_label(item), "", {"items_removed": [item.pk]}) for item in removed]
    if changes:
        Claim.objects.filter(pk=claim.pk).update(**changes)
        for name, value in changes.items():
            setattr(claim, name, value)
        if location is not None and "location_id" in changes:
            claim.location = location
    if removed:
        # PostgreSQL refuses to delete the last item (migration 0010): the form asks for one to remain first.
        ClaimItem.objects.filter(pk__in=[item.pk for item in removed]).delete()
    for field, old_value, new_value, data in events:
        claim_event_record(
            claim=claim,
            actor=ClaimEvent.Actor.PARTNER,
            user=user,
            action=ClaimEvent.Action.CHANGED,
            field=field,
            old_value=old_value,
            new_value=new_value,
            data=data,
        )
    return len(events)


def claims_expire_information_requests(*, now=None, batch_size=500):
    """Reject every ``action_required`` claim whose 5 business days have passed ("no response")."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Claim.objects.select_for_update(skip_locked=True)
                .filter(status=ClaimStatus.ACTION_REQUIRED, response_deadline__lt=now)
                .order_by("response_deadline", "pk")
                .values_list("pk", "disputed_at")[:batch_size]
            )
            ids = [pk for pk, _ in rows]
            # Disputes (SPEC §12): the claims that were disputed once are rejected for good (rejected_final).
            for to, claim_ids in (
                (ClaimStatus.REJECTED, [pk for pk, disputed_at in rows if disputed_at is None]),
                (ClaimStatus.REJECTED_FINAL, [pk for pk, disputed_at in rows if disputed_at is not None]),
            ):
                claims_transition(
                    claim_ids=claim_ids,
                    old_status=ClaimStatus.ACTION_REQUIRED,
                    to=to,
                    actor=ClaimEvent.Actor.SYSTEM,
                    action=ClaimEvent.Action.NO_RESPONSE,
                    reason=RejectionReason.NO_RESPONSE,
                    changes={
                        "rejection_reasons": [english(RejectionReason.NO_RESPONSE.label)],
                        "response_deadline": None,
                    },
                    now=now,
                )
        total += len(ids)
        if len(ids) < batch_size:
            return total


# The customer -------------------------------------------------------------------------------------------------


class OptOutResult(models.TextChoices):
    OPTED_OUT = "opted_out", _("Opted out")
    ALREADY = "already", _("Already opted out")
    CLOSED = "closed", _("The window has closed")


def claim_opt_out(*, claim, now=None):
    """The customer opts out. Under the claim's row lock, so it and finalization never both act on a claim."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        window = locked.opt_out_window(now)
        if window == OptOutWindow.OPTED_OUT:
            return OptOutResult.ALREADY
        if window == OptOutWindow.CLOSED:
            return OptOutResult.CLOSED
        claim_transition(
            claim=locked,
            to=ClaimStatus.OPTED_OUT,
            actor=ClaimEvent.Actor.CUSTOMER,
            action=ClaimEvent.Action.OPTED_OUT,
            from_statuses=[ClaimStatus.CUSTOMER_NOTIFIED],
        )
    claim.status = locked.status
    return OptOutResult.OPTED_OUT
