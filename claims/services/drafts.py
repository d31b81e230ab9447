"""Drafts (SPEC §12): the wizard's work kept server-side from the first Continue, its deletion and its expiry
after DRAFT_DAYS untouched, and **Copy into a new claim** (a new draft from a claim that can no longer move on).

A draft is a Claim in status ``draft``: ``draft_data`` holds the wizard's formtools storage data (the current
step, every step's posted data, and ``extra_data`` with the run's ``submission_key``); its POE files are the
PendingUploads keyed by that submission key. PostgreSQL lets a draft change every column and be deleted, and a
draft has no history until it is submitted (migrations 0008 and 0010), so nothing here writes a ClaimEvent except
the expiry, which is a status move.
"""

import uuid

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import pgettext

from associations.models import Activity, Partner, SolutionArea
from claims.due import draft_due_at
from claims.models import (
    CONTACT_FIELDS,
    BusinessAppsActivity,
    Claim,
    ClaimEvent,
    ClaimStatus,
    PendingUpload,
)
from claims.policy import ClaimRules
from claims.services.transitions import claims_transition
from claims.windows import drafts_expired_before

# The header columns a wizard step fills while the claim is a draft (the list shows them); everything else is
# written when the draft is submitted (claims.services.submission.claim_submit).
DRAFT_COLUMNS = {
    "customer": ("location", "domain", "directory_id", "tenant"),
    "activity": ("solution_area", "activities"),
    "associate": ("name", "dynamics_seller_name", "customer_name", "isv_solution_name"),
}
# The wizard steps Copy into a new claim fills (not the POE: its files are not copied; not the review).
COPIED_STEPS = ("customer", "activity", "associate", "products", "contacts")
WIZARD_PREFIX = "claim_wizard"


class ClaimNotCopyable(Exception):
    """The claim can still move on (or is not the partner's to copy): Copy into a new claim is not offered."""


class DraftLimitReached(Exception):
    """The user has DRAFTS_MAX_OPEN drafts open already: no new one until one is submitted, deleted or expires."""


def drafts_limit_reached(*, partner_id, user):
    """Whether ``user`` may not start another draft for this partner: they have DRAFTS_MAX_OPEN drafts open (SPEC
    §12). Resuming or submitting one of them is always allowed."""
    drafts = Claim.objects.filter(partner_id=partner_id, created_by=user, status=ClaimStatus.DRAFT)
    return drafts.count() >= settings.DRAFTS_MAX_OPEN


def _draft_room_check(*, partner_id, user):
    """Inside a transaction: lock the partner's row, so that two new drafts of its users (two tabs) are counted one
    after the other, then refuse (DraftLimitReached) a draft beyond the user's limit."""
    list(Partner.objects.select_for_update().filter(pk=partner_id).values_list("pk"))
    if drafts_limit_reached(partner_id=partner_id, user=user):
        raise DraftLimitReached(settings.DRAFTS_MAX_OPEN)


def draft_columns(step, cleaned_data):
    """The header columns a valid step sets on its draft, from the step's cleaned data ({} for other steps)."""
    return {name: cleaned_data.get(name, "") for name in DRAFT_COLUMNS.get(step, ()) if name in cleaned_data}


def claim_draft_create(*, partner, user, submission_key, draft_data, columns):
    """The wizard's first valid Continue: the draft claim of this run (no ClaimEvent: a draft has no history).

    Two requests of the same run at once (a double click on Continue) both try to insert: the unique
    submission key lets one win, and the other saves its data on the winner's row. Returns the claim's id.
    A new draft beyond the user's DRAFTS_MAX_OPEN raises DraftLimitReached (nothing is written).
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            if not Claim.objects.filter(partner=partner, submission_key=submission_key).exists():
                _draft_room_check(partner_id=partner.pk, user=user)
            claim = Claim.objects.create(
                partner=partner,
                created_by=user,
                status=ClaimStatus.DRAFT,
                submission_key=submission_key,
                draft_data=draft_data,
                draft_saved_at=now,
                due_at=draft_due_at(now),
                submitted_at=now,
                status_changed_at=now,
                **columns,
            )
    except IntegrityError:
        claim_draft_update(partner=partner, submission_key=submission_key, draft_data=draft_data, columns=columns)
        claim = Claim.objects.filter(partner=partner, submission_key=submission_key).first()
        if claim is None:
            raise
    return claim.pk


def claim_draft_update(*, partner, submission_key, draft_data, columns=None):
    """Save the wizard's data on its draft (and the header columns of the step just continued).

    A compare-and-set on the status: a draft deleted, expired or submitted meanwhile (from another device, or by
    the expiry job) is left alone, and False tells the wizard so.
    """
    now = timezone.now()
    return bool(
        Claim.objects.filter(partner=partner, submission_key=submission_key, status=ClaimStatus.DRAFT).update(
            draft_data=draft_data, draft_saved_at=now, due_at=draft_due_at(now), **(columns or {})
        )
    )


def _uploads_delete(uploads):
    """Delete PendingUploads: each object first (a row without an object is harmless; an object without a row
    would never be found again), then the rows."""
    for upload in uploads:
        default_storage.delete(upload.file.name)
    PendingUpload.objects.filter(pk__in=[upload.pk for upload in uploads]).delete()
    return len(uploads)


def claim_draft_delete(*, partner, claim_id):
    """Delete one of the partner's drafts with its uploads (objects and rows). False when there is no such draft
    (another partner's, already deleted, or no longer a draft: PostgreSQL would refuse that delete anyway)."""
    with transaction.atomic():
        claim = (
            Claim.objects.select_for_update()
            .filter(partner=partner, pk=claim_id, status=ClaimStatus.DRAFT)
            .only("pk", "submission_key")
            .first()
        )
        if claim is None:
            return False
        uploads = list(
            PendingUpload.objects.select_for_update().filter(partner=partner, wizard_key=str(claim.submission_key))
        )
        _uploads_delete(uploads)
        claim.delete()
    return True


def claims_expire_drafts(*, now=None):
    """Drafts untouched for DRAFT_DAYS become ``expired`` (actor system) and lose their uploads; returns how many.

    Batches of drafts are taken with SKIP LOCKED: a draft being saved or submitted right now is left for the next
    run (its save moves ``draft_saved_at`` anyway). The status move and the rows' deletion share the transaction;
    the objects go first (see ``_uploads_delete``).
    """
    now = now or timezone.now()
    due = drafts_expired_before(now)  # the draft window's end (claims.windows), as a query
    expired = 0
    while True:
        with transaction.atomic():
            drafts = list(
                Claim.objects.select_for_update(skip_locked=True)
                .filter(status=ClaimStatus.DRAFT, draft_saved_at__lt=due)
                .order_by("draft_saved_at")
                .values_list("pk", "partner_id", "submission_key")[:200]
            )
            if not drafts:
                return expired
            claims_transition(
                claim_ids=[pk for pk, _, _ in drafts],
                old_status=ClaimStatus.DRAFT,
                to=ClaimStatus.EXPIRED,
                actor=ClaimEvent.Actor.SYSTEM,
                action=ClaimEvent.Action.EXPIRED,
                now=now,
            )
            keys = {(partner_id, str(key)) for _, partner_id, key in drafts}
            uploads = [
                upload
                for upload in PendingUpload.objects.select_for_update().filter(wizard_key__in={key for _, key in keys})
                if (upload.partner_id, upload.wizard_key) in keys
            ]
            _uploads_delete(uploads)
            expired += len(drafts)


def step_data_kept(step, data):
    """A step's saved data without anything but the step's own fields and the wizard's management field, for data
    saved before the wizard kept only those (``ClaimWizard.get_form_step_data``): read back, copied, never grown."""
    if not isinstance(data, dict):
        return None
    return {
        key: values
        for key, values in data.items()
        if key.startswith(f"{step}-") or key == f"{WIZARD_PREFIX}-current_step"
    }


def claim_copy_name(name):
    """The name of a copy (SPEC §12): "Copy of <name>" (zh-Hant: the name, then "copy" in full-width parentheses) in
    the language of the user who copies, so that the list never shows two rows with one name; the original's name is
    shortened, with an ellipsis, when the whole would pass the column's length. An empty name (a draft never named)
    stays empty."""
    name = name.strip()
    if not name:
        return ""
    words = pgettext("the name of a copied claim", "Copy of %(name)s")
    room = Claim._meta.get_field("name").max_length - len(words % {"name": ""})
    if len(name) > room:
        name = name[: room - 1].rstrip() + "…"
    return words % {"name": name}


def _step(step, fields):
    """One step's data as the wizard stores it: {"<step>-<field>": [values]}, with the step's management field."""
    data = {f"{WIZARD_PREFIX}-current_step": [step]}
    for name, value in fields.items():
        values = value if isinstance(value, list) else [value]
        if values and values != [""]:
            data[f"{step}-{name}"] = [str(v) for v in values]
    return data


def _copied_step_data(claim):
    """What the partner entered on ``claim``, in the wizard's step-data format, for COPIED_STEPS.

    An expired draft never had its columns filled: its own step data is copied. A submitted claim's steps are
    rebuilt from its columns and items.
    """
    if claim.status == ClaimStatus.EXPIRED:
        saved = (claim.draft_data or {}).get("step_data") or {}
        copied = {step: step_data_kept(step, saved[step]) for step in COPIED_STEPS if isinstance(saved.get(step), dict)}
        names = (copied.get("associate") or {}).get("associate-name")
        if isinstance(names, list) and names and isinstance(names[0], str):
            copied["associate"]["associate-name"] = [claim_copy_name(names[0])]
        return copied
    activity = {"solution_area": claim.solution_area}
    if claim.solution_area == SolutionArea.BUSINESS_APPLICATIONS:
        if Activity.REVENUE_ASSOCIATION in claim.activities:
            activity["business_activity"] = BusinessAppsActivity.REVENUE_ASSOCIATION
        else:
            activity["business_activity"] = BusinessAppsActivity.USAGE_PRE_SALES
            activity.update({name: "on" for name in (Activity.USAGE, Activity.PRE_SALES) if name in claim.activities})
    associate = {"name": claim_copy_name(claim.name)}
    if claim.is_revenue_association:
        associate.update(
            dynamics_seller_name=claim.dynamics_seller_name,
            customer_name=claim.customer_name,
            isv_solution_name=claim.isv_solution_name,
        )
    items = list(claim.items.select_related("product", "subscription").order_by("id"))
    products = {"products": list(dict.fromkeys(str(item.product_id) for item in items))}
    for item in items:
        if item.product.is_dynamics and item.subscription_id:
            products[f"subscription_{item.product.code}"] = str(item.subscription.subscription_id)
    return {
        "customer": _step(
            "customer",
            {"location": claim.location.mpn_id, "domain": claim.domain, "directory_id": str(claim.directory_id)},
        ),
        "activity": _step("activity", activity),
        "associate": _step("associate", associate),
        "products": _step("products", products),
        "contacts": _step("contacts", {name: getattr(claim, name) for name in CONTACT_FIELDS}),
    }


def claim_copy_to_draft(*, claim, user):
    """Copy into a new claim: a new draft (new submission key) holding what was entered on ``claim`` except its
    POE files, at the wizard's first step. Raises ClaimNotCopyable when the claim may still move on, and
    DraftLimitReached when the user has DRAFTS_MAX_OPEN drafts open. Returns the new draft.

    The rule book decides (``claims.policy.ClaimRules.copy``): a claim that can no longer move on (a rejection past
    its dispute window or disputed already, a final rejection, an expired draft), copied by an incentives admin of
    its partner."""
    copy = ClaimRules(claim, user).copy
    if not copy:
        raise ClaimNotCopyable(copy.why_not)
    key = uuid.uuid4()
    now = timezone.now()
    draft_data = {
        "step": "customer",
        "step_data": _copied_step_data(claim),
        "step_files": {},
        "extra_data": {"submission_key": str(key)},
    }
    with transaction.atomic():
        _draft_room_check(partner_id=claim.partner_id, user=user)
        return Claim.objects.create(
            partner_id=claim.partner_id,
            location_id=claim.location_id,
            created_by=user,
            name=claim_copy_name(claim.name),
            domain=claim.domain,
            directory_id=claim.directory_id,
            tenant_id=claim.tenant_id,
            solution_area=claim.solution_area,
            activities=list(claim.activities),
            status=ClaimStatus.DRAFT,
            submission_key=key,
            draft_data=draft_data,
            draft_saved_at=now,
            due_at=draft_due_at(now),
            submitted_at=now,
            status_changed_at=now,
        )
