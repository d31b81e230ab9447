"""The wizard's writes: POE files uploaded while the wizard runs, and the submission of a claim."""

import datetime
import uuid

from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, OuterRef
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext

from associations.models import Partner, SolutionArea, Subscription
from claims.history import claim_content, documents_data
from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, PendingUpload, PoeDocument, programs_for
from claims.selectors import claim_poe_room
from claims.services.jobs import task_send_on_commit
from claims.services.transitions import claim_transition
from claims.uploads import poe_check, poe_check_count, poe_quota_check


class PoeStorageError(Exception):
    """The file storage did not answer (or lost a file): nothing was submitted, and the partner may retry."""


def pending_upload_create(*, partner, user, wizard_key, uploaded_file, display_name=None):
    """Check one POE file and store it as a PendingUpload of this wizard run; ValidationError if refused.

    1. Check the file by content, size and count (``claims.uploads.poe_check``); refused files are never stored.
    2. Store it (``pending_upload_store``), counting again under the partner's row lock so that two files sent
       at once cannot both become the sixth.
    """
    uploads = PendingUpload.objects.filter(partner=partner, wizard_key=wizard_key)
    checked = poe_check(uploaded_file, display_name=display_name, already=uploads.count())

    def count_again():
        list(Partner.objects.select_for_update().filter(pk=partner.pk).values_list("pk"))
        poe_check_count(display_name=checked.display_name, already=uploads.count())

    return pending_upload_store(
        partner=partner,
        user=user,
        wizard_key=wizard_key,
        uploaded_file=uploaded_file,
        checked=checked,
        before_insert=count_again,
    )


def pending_upload_store(*, partner, user, wizard_key, uploaded_file, checked, before_insert=None):
    """Store a checked POE file: commit the row, which names the object's generated key, then write the object.

    Row first, object second: if this process dies at any point, what is left is a row, which the purge job
    finds and deletes a day later with whatever part of the object exists. The other order could leave an
    object that no row names, and nothing would ever find it. If the storage fails, the row is deleted again.
    """
    upload = PendingUpload(
        partner=partner,
        user=user,
        wizard_key=wizard_key,
        original_name=checked.display_name,
        content_type=checked.content_type,
        size=checked.size,
        sha256=checked.sha256,
    )
    upload.file.name = PendingUpload.file.field.generate_filename(upload, checked.display_name)
    with transaction.atomic():
        if before_insert is not None:
            before_insert()
        upload.save(force_insert=True)
    try:
        uploaded_file.seek(0)
        stored_name = default_storage.save(upload.file.name, uploaded_file)
    except Exception as exc:
        upload.delete()
        raise PoeStorageError(gettext("The file storage is not available. Try again in a moment.")) from exc
    if stored_name != upload.file.name:  # the storage chose another name (it never should for a fresh uuid)
        PendingUpload.objects.filter(pk=upload.pk).update(file=stored_name)
        upload.file.name = stored_name
    return upload


def pending_upload_delete(*, partner, wizard_key, upload_id):
    """Remove one of this wizard run's uploads (object and row). Returns False when it was not there."""
    upload = PendingUpload.objects.filter(partner=partner, wizard_key=wizard_key, pk=upload_id).first()
    if upload is None:
        return False
    default_storage.delete(upload.file.name)
    upload.delete()
    return True


def pending_uploads_discard(*, partner, wizard_key):
    """Remove all of this wizard run's uploads (objects, then rows), e.g. when the partner switched the customer:
    proof of execution for one company must not travel with a claim on another. Returns how many."""
    uploads = list(PendingUpload.objects.filter(partner=partner, wizard_key=wizard_key))
    for upload in uploads:
        # The object first: a row without an object is harmless, an object without a row is never found again.
        default_storage.delete(upload.file.name)
    PendingUpload.objects.filter(pk__in=[upload.pk for upload in uploads]).delete()
    return len(uploads)


def claim_poe_add(*, claim, user, files, write, in_response=False, key_prefix="poe"):
    """Add checked POE ``files`` ((uploaded file, CheckedUpload) pairs) to a submitted claim together with the
    change they come with (an answer, a dispute, protecting an association), nothing half-written.

    1. The claim's POE quota (``POE_CLAIM_MAX_FILES``, ``POE_CLAIM_MAX_BYTES``): files that do not fit are
       refused (``PoeQuotaExceeded``, saying how much room is left) before anything is stored.
    2. Store each file as a PendingUpload (row first, then object), outside any lock, like the wizard: a crash
       leaves only rows that the purge job cleans up.
    3. In one transaction under the claim's row lock: the quota again (two posts at once cannot both take the
       last room), the uploads become PoeDocuments of the same moment (same keys), then
       ``write(locked_claim, now, added)`` (its checks and its events; ``added`` is what the event that adds them
       carries in its ``data``, ``{"documents_added": [...]}``, or {} without files: SPEC §14).
    4. On any failure (the quota, a refusal in ``write``, the storage), delete the stored files again (the rows
       roll back).

    Returns the locked claim as ``write`` left it.
    """
    sizes = [checked.size for _upload, checked in files]
    if sizes:
        poe_quota_check(claim_poe_room(claim), sizes)
    pending = []
    wizard_key = f"{key_prefix}-{claim.pk}-{uuid.uuid4().hex}"
    try:
        for upload, checked in files:
            pending.append(
                pending_upload_store(
                    partner=claim.partner, user=user, wizard_key=wizard_key, uploaded_file=upload, checked=checked
                )
            )
        with transaction.atomic():
            locked = Claim.objects.select_for_update(of=("self",)).select_related("location", "tenant").get(pk=claim.pk)
            # The quota, under the lock: what the claim holds now, with whatever was added since step 1.
            if sizes:
                poe_quota_check(claim_poe_room(locked), sizes)
            now = timezone.now()
            documents = PoeDocument.objects.bulk_create(
                PoeDocument(
                    claim_id=claim.pk,
                    file=upload.file.name,
                    original_name=upload.original_name,
                    content_type=upload.content_type,
                    size=upload.size,
                    sha256=upload.sha256,
                    uploaded_at=now,
                    uploaded_by=user,
                    in_response=in_response,
                    content_checked=True,  # typed by content in poe_check
                )
                for upload in pending
            )
            PendingUpload.objects.filter(pk__in=[upload.pk for upload in pending]).delete()
            # History is evidence (SPEC §14): the event that adds them names them (ids, keys, sha256).
            write(locked, now, {"documents_added": documents_data(documents)} if documents else {})
    except BaseException:
        for upload in pending:
            pending_upload_delete(partner=claim.partner, wizard_key=wizard_key, upload_id=upload.pk)
        raise
    return locked


def pending_uploads_purge(*, older_than):
    """Delete abandoned wizard uploads (object, then row) created before ``older_than``, except a live draft's;
    returns how many.

    ``older_than`` is a datetime, or a timedelta counted back from now. Rows are taken with SKIP LOCKED so that
    a claim being submitted with one of them right now keeps it. The object goes first: a row without an object
    is harmless, an object without a row would never be found again.
    """
    if isinstance(older_than, datetime.timedelta):
        older_than = timezone.now() - older_than
    # A draft's uploads live as long as the draft (SPEC §12): its expiry or deletion removes them
    # (claims.services.drafts). Compared as text: a wizard key is the submission key's text form.
    live_drafts = Claim.objects.annotate(key_text=Cast("submission_key", CharField())).filter(
        status=ClaimStatus.DRAFT, partner_id=OuterRef("partner_id"), key_text=OuterRef("wizard_key")
    )
    purged = 0
    while True:
        with transaction.atomic():
            batch = list(
                PendingUpload.objects.select_for_update(skip_locked=True)
                .filter(created_at__lt=older_than)
                .exclude(Exists(live_drafts))
                .order_by("created_at")[:200]
            )
            if not batch:
                return purged
            for upload in batch:
                default_storage.delete(upload.file.name)
            PendingUpload.objects.filter(pk__in=[upload.pk for upload in batch]).delete()
            purged += len(batch)


def claim_items_plan(*, tenant, solution_area, activities, products, subscriptions):
    """The ClaimItems a submission asks for (SPEC §2), as unsaved objects.

    Microsoft 365: one osu_m365 item per workload. Business Applications: one item per subscription and program;
    the subscription is the one the partner chose (a Dynamics 365 product with several subscriptions) or else the
    tenant's active subscriptions of that product.
    """
    programs = programs_for(solution_area, activities)
    if solution_area == SolutionArea.MICROSOFT_365:
        return [
            ClaimItem(program=program, tenant=tenant, product=product) for product in products for program in programs
        ]
    active = {}
    for subscription in Subscription.objects.active().filter(tenant=tenant, product__in=products):
        active.setdefault(subscription.product_id, []).append(subscription)
    items = []
    for product in products:
        chosen = subscriptions.get(product.pk)
        for subscription in [chosen] if chosen else active.get(product.pk, []):
            items += [
                ClaimItem(program=program, tenant=tenant, product=product, subscription=subscription)
                for program in programs
            ]
    return items


def claim_submit(*, user, partner, data, submission_key, just_stored=frozenset()):
    """Submit the claim the wizard collected; the same ``submission_key`` always yields the same one claim.

    ``data`` is the wizard's merged cleaned data. The wizard's run is a draft claim from its first Continue (SPEC
    §12, ``claims.services.drafts``); submitting turns that same row into the submitted claim. In one transaction:
    1. lock this wizard run's PendingUploads and its draft (a second, concurrent submit waits here for the first);
    2. return the claim if this submission key was already submitted (double click, replayed POST);
    3. check every uploaded object still exists in storage (PoeStorageError otherwise: nothing is written), but
       those named in ``just_stored``: the keys ``pending_upload_create`` returned to this same caller a moment
       ago (a bulk import row stores its files and submits at once), which the storage has just acknowledged:
       one request a file less, made while the rows are locked;
    4. the draft row (inserted now if the run has none) gets its ClaimItems and PoeDocuments (same storage keys:
       nothing is copied), the PendingUploads go, and ``claim_transition`` moves it draft -> submitted with every
       column the partner entered and an empty ``draft_data``, writing the first ClaimEvent;
    5. enqueue automatic validation once the transaction has committed.
    """
    key = str(submission_key)
    location = data["location"]
    if location.partner_id != partner.pk:
        raise PermissionDenied("This MPN ID is not one of your organization's locations.")
    try:
        with transaction.atomic():
            uploads = list(
                PendingUpload.objects.select_for_update().filter(partner=partner, wizard_key=key).order_by("created_at")
            )
            claim = Claim.objects.select_for_update().filter(partner=partner, submission_key=submission_key).first()
            if claim is not None and claim.status != ClaimStatus.DRAFT:
                return claim
            if not uploads:
                raise PoeStorageError(
                    gettext("Your proof of execution files are no longer available. Upload them again.")
                )
            try:
                missing = [
                    upload
                    for upload in uploads
                    if upload.file.name not in just_stored and not default_storage.exists(upload.file.name)
                ]
            except Exception as exc:
                raise PoeStorageError(gettext("The file storage is not available.")) from exc
            if missing:
                raise PoeStorageError(
                    gettext("“%(name)s” is no longer available. Remove it and upload it again.")
                    % {"name": missing[0].original_name}
                )

            now = timezone.now()
            tenant = data["tenant"]
            columns = {
                "location": location,
                "name": data["name"],
                "domain": data["domain"],
                "directory_id": data["directory_id"],
                "tenant": tenant,
                "solution_area": data["solution_area"],
                "activities": list(data["activities"]),
                "dynamics_seller_name": data.get("dynamics_seller_name", ""),
                "customer_name": data.get("customer_name", ""),
                "isv_solution_name": data.get("isv_solution_name", ""),
                "customer_contact_name": data["customer_contact_name"],
                "customer_contact_title": data["customer_contact_title"],
                "customer_contact_email": data["customer_contact_email"],
                "technical_contact_name": data.get("technical_contact_name", ""),
                "technical_contact_title": data.get("technical_contact_title", ""),
                "technical_contact_email": data.get("technical_contact_email", ""),
                "partner_contact_name": data["partner_contact_name"],
                "partner_contact_email": data["partner_contact_email"],
                "comments": data.get("comments", ""),
            }
            if claim is None:
                # A run with no draft (its data never passed through a Continue of ours, e.g. a script): the
                # draft row now, so that every claim starts the same way.
                claim = Claim.objects.create(
                    partner=partner,
                    created_by=user,
                    status=ClaimStatus.DRAFT,
                    submission_key=submission_key,
                    draft_saved_at=now,
                    **columns,
                )
            items = claim_items_plan(
                tenant=tenant,
                solution_area=data["solution_area"],
                activities=data["activities"],
                products=data["products"],
                subscriptions=data.get("subscriptions", {}),
            )
            for item in items:
                item.claim = claim
            ClaimItem.objects.bulk_create(items)
            documents = PoeDocument.objects.bulk_create(
                PoeDocument(
                    claim=claim,
                    file=upload.file.name,
                    original_name=upload.original_name,
                    content_type=upload.content_type,
                    size=upload.size,
                    sha256=upload.sha256,
                    uploaded_at=upload.created_at,
                    uploaded_by=user,
                    content_checked=True,  # typed by content when it was uploaded (poe_check)
                )
                for upload in uploads
            )
            PendingUpload.objects.filter(pk__in=[upload.pk for upload in uploads]).delete()
            # History is evidence (SPEC §14): the SUBMITTED event carries what was submitted.
            for name, value in columns.items():
                setattr(claim, name, value)
            snapshot = claim_content(claim, items, documents)
            # The draft's own columns may change in the same UPDATE as its status (migration 0010): once
            # submitted, PostgreSQL freezes them.
            claim_transition(
                claim=claim,
                to=ClaimStatus.SUBMITTED,
                from_statuses={ClaimStatus.DRAFT},
                actor=ClaimEvent.Actor.PARTNER,
                user=user,
                action=ClaimEvent.Action.SUBMITTED,
                changes={**columns, "draft_data": {}, "submitted_at": now},
                data={"snapshot": snapshot},
            )
            # If the broker is down, the claim is still submitted (PostgreSQL is the source of truth) and
            # claims_requeue_unvalidated enqueues it later; the partner must not see an error for it.
            task_send_on_commit("claim_validate_task", claim_id=claim.pk)
    except IntegrityError:
        # A concurrent submit with the same key won the race after our lookup: that claim is the one.
        existing = Claim.objects.filter(partner=partner, submission_key=submission_key).first()
        if existing is None:
            raise
        return existing
    return claim
