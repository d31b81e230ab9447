"""Writes and workflows for claims. Views, admin actions and tasks call these; nothing else writes claims.

Every status change goes through ``claim_transition`` (see the lifecycle section), which checks the current
status under a row lock, saves with ``update_fields``, writes one ClaimEvent and schedules the emails.
"""

import datetime
import hashlib
import io
import json
import smtplib
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Prefetch, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from associations.models import (
    PROGRAM_FOR_ACTIVITY,
    Association,
    Partner,
    Program,
    SolutionArea,
    Subscription,
    Tenant,
    TenantDomain,
    TenantLicense,
    UsageRecord,
)
from associations.validators import normalize_domain
from claims import emails
from claims.deadlines import deadline_after
from claims.models import (
    TRANSITIONS,
    Claim,
    ClaimEvent,
    ClaimItem,
    ClaimStatus,
    EmailNotification,
    PendingUpload,
    PoeDocument,
)
from claims.uploads import HEAD_BYTES, POE_TYPES, detect_poe_type, poe_check, poe_check_count


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


class PoeStorageError(Exception):
    """The file storage did not answer (or lost a file): nothing was submitted, and the partner may retry."""


def pending_upload_create(*, partner, user, wizard_key, uploaded_file, display_name=None):
    """Check one POE file and store it as a PendingUpload of this wizard run; ValidationError if refused.

    1. Check the file by content, size and count (``claims.uploads.poe_check``); refused files are never stored.
    2. Store it (``_pending_upload_store``), counting again under the partner's row lock so that two files sent
       at once cannot both become the sixth.
    """
    uploads = PendingUpload.objects.filter(partner=partner, wizard_key=wizard_key)
    checked = poe_check(uploaded_file, display_name=display_name, already=uploads.count())

    def count_again():
        list(Partner.objects.select_for_update().filter(pk=partner.pk).values_list("pk"))
        poe_check_count(display_name=checked.display_name, already=uploads.count())

    return _pending_upload_store(
        partner=partner,
        user=user,
        wizard_key=wizard_key,
        uploaded_file=uploaded_file,
        checked=checked,
        before_insert=count_again,
    )


def _pending_upload_store(*, partner, user, wizard_key, uploaded_file, checked, before_insert=None):
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
        raise PoeStorageError("The file storage is not available. Try again in a moment.") from exc
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


def pending_uploads_purge(*, older_than):
    """Delete abandoned wizard uploads (object, then row) created before ``older_than``; returns how many.

    ``older_than`` is a datetime, or a timedelta counted back from now. Rows are taken with SKIP LOCKED so that
    a claim being submitted with one of them right now keeps it. The object goes first: a row without an object
    is harmless, an object without a row would never be found again.
    """
    if isinstance(older_than, datetime.timedelta):
        older_than = timezone.now() - older_than
    purged = 0
    while True:
        with transaction.atomic():
            batch = list(
                PendingUpload.objects.select_for_update(skip_locked=True)
                .filter(created_at__lt=older_than)
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
    if solution_area == SolutionArea.MICROSOFT_365:
        return [ClaimItem(program=Program.OSU_M365, tenant=tenant, product=product) for product in products]
    programs = [PROGRAM_FOR_ACTIVITY[(solution_area, activity)] for activity in activities]
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


def _claim_validate_enqueue(claim_id):
    # Imported here: the lifecycle's tasks module builds on this one.
    from claims.tasks import claim_validate_task

    claim_validate_task.delay(claim_id=claim_id)


def claim_submit(*, user, partner, data, submission_key):
    """Create the claim the wizard collected; the same ``submission_key`` always yields the same one claim.

    ``data`` is the wizard's merged cleaned data. In one transaction:
    1. lock this wizard run's PendingUploads (a second, concurrent submit waits here for the first);
    2. return the existing claim if this submission key was already used (double click, replayed POST);
    3. check every uploaded object still exists in storage (PoeStorageError otherwise: nothing is written);
    4. create the Claim, its ClaimItems and its PoeDocuments (same storage keys: nothing is copied), drop the
       PendingUploads and write the first ClaimEvent;
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
            existing = Claim.objects.filter(partner=partner, submission_key=submission_key).first()
            if existing is not None:
                return existing
            if not uploads:
                raise PoeStorageError("Your proof of execution files are no longer available. Upload them again.")
            try:
                missing = [upload for upload in uploads if not default_storage.exists(upload.file.name)]
            except Exception as exc:
                raise PoeStorageError("The file storage is not available.") from exc
            if missing:
                raise PoeStorageError(
                    f"“{missing[0].original_name}” is no longer available. Remove it and upload it again."
                )

            now = timezone.now()
            tenant = data["tenant"]
            claim = Claim.objects.create(
                partner=partner,
                location=location,
                created_by=user,
                name=data["name"],
                domain=data["domain"],
                directory_id=data["directory_id"],
                tenant=tenant,
                solution_area=data["solution_area"],
                activities=list(data["activities"]),
                dynamics_seller_name=data.get("dynamics_seller_name", ""),
                customer_name=data.get("customer_name", ""),
                isv_solution_name=data.get("isv_solution_name", ""),
                customer_contact_name=data["customer_contact_name"],
                customer_contact_title=data["customer_contact_title"],
                customer_contact_email=data["customer_contact_email"],
                technical_contact_name=data.get("technical_contact_name", ""),
                technical_contact_title=data.get("technical_contact_title", ""),
                technical_contact_email=data.get("technical_contact_email", ""),
                partner_contact_name=data["partner_contact_name"],
                partner_contact_email=data["partner_contact_email"],
                comments=data.get("comments", ""),
                status=ClaimStatus.SUBMITTED,
                submitted_at=now,
                status_changed_at=now,
                submission_key=submission_key,
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
            PoeDocument.objects.bulk_create(
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
            claim_event_record(
                claim=claim,
                actor=ClaimEvent.Actor.PARTNER,
                user=user,
                action="submitted",
                new_status=ClaimStatus.SUBMITTED,
            )
            # robust: if the broker is down, the claim is still submitted (PostgreSQL is the source of truth) and
            # claims_requeue_unvalidated enqueues it later; the partner must not see an error for it.
            transaction.on_commit(partial(_claim_validate_enqueue, claim.pk), robust=True)
    except IntegrityError:
        # A concurrent submit with the same key won the race after our lookup: that claim is the one.
        existing = Claim.objects.filter(partner=partner, submission_key=submission_key).first()
        if existing is None:
            raise
        return existing
    return claim


# --- Lifecycle (validation, review, notification, opt-out, finalization) -----------------------------------------


class ClaimStatusConflict(Exception):
    """The claim is no longer in a status that allows this move: someone else already moved it."""

    def __init__(self, *, claim_id, current, to):
        super().__init__(f"Claim {claim_id} is {current}; it cannot become {to}.")
        self.claim_id = claim_id
        self.current = current
        self.to = to


class InformationReason(models.TextChoices):
    """Why a reviewer asks the partner for more information (a fixed list; the message says the rest)."""

    POE_INSUFFICIENT = "poe_insufficient", "The proof of execution does not show the activity"
    POE_UNREADABLE = "poe_unreadable", "A proof of execution document cannot be read"
    CONTACT_UNVERIFIED = "contact_unverified", "The customer contact could not be verified"
    ACTIVITY_UNCLEAR = "activity_unclear", "The activity or its dates are unclear"
    OTHER = "other", "Other"


class RejectionReason(models.TextChoices):
    POE_INSUFFICIENT = "poe_insufficient", "The proof of execution does not support the claim"
    NOT_ELIGIBLE = "not_eligible", "The activity is not eligible for this program"
    DUPLICATE = "duplicate", "The claim duplicates another claim"
    CUSTOMER_DENIED = "customer_denied", "The customer does not confirm the engagement"
    OTHER = "other", "Other"
    # Set by the system, never offered to reviewers.
    VALIDATION = "validation", "Automatic validation failed"
    NO_RESPONSE = "no_response", "No response to the information request within 5 business days"


REVIEWER_REJECTION_REASONS = [
    (value, label) for value, label in RejectionReason.choices if value not in ("validation", "no_response")
]

EMAIL_KIND_FOR_STATUS = {
    ClaimStatus.CUSTOMER_NOTIFIED: EmailNotification.Kind.CUSTOMER_NOTIFIED,
    ClaimStatus.ACTION_REQUIRED: EmailNotification.Kind.ACTION_REQUIRED,
    ClaimStatus.REJECTED: EmailNotification.Kind.REJECTED,
    ClaimStatus.OFFICIAL: EmailNotification.Kind.OFFICIAL,
    ClaimStatus.OPTED_OUT: EmailNotification.Kind.OPTED_OUT,
    ClaimStatus.ENDED: EmailNotification.Kind.ENDED,
}

EMAIL_MAX_ATTEMPTS = 6


def _outbox_add(rows):
    """Queue emails: ``rows`` are (claim_id, kind, association_id). Sent after commit, each at most once.

    The partial unique constraints on EmailNotification make a second row for the same (claim, kind) a no-op
    (a second information request on one claim is recorded in the history, but its email is not sent again).
    """
    if not rows:
        return
    if connection.vendor == "postgresql":
        _outbox_insert_pg(rows)
    else:
        EmailNotification.objects.bulk_create(
            [EmailNotification(claim_id=c, kind=k, association_id=a) for c, k, a in rows], ignore_conflicts=True
        )
    ids = []
    for kind in {k for _, k, _ in rows}:
        claim_ids = [c for c, k, _ in rows if k == kind]
        ids += EmailNotification.objects.filter(
            claim_id__in=claim_ids, kind=kind, state=EmailNotification.State.PENDING
        ).values_list("pk", flat=True)
    if ids:
        # robust: with the broker down the rows stay pending and emails_requeue_pending sends them later.
        transaction.on_commit(lambda: _emails_enqueue(ids), robust=True)


def _outbox_insert_pg(rows):
    """``_outbox_add``'s INSERT as one statement from arrays: at batch sizes bulk_create's per-object work cost
    more than the insert itself. A row already there for the same (claim, kind[, association]) is skipped."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO claims_emailnotification (claim_id, kind, association_id, state, created_at, attempts,
                                                  last_error)
            SELECT v.claim_id, v.kind, v.association_id, %(pending)s, %(now)s, 0, ''
            FROM unnest(%(claims)s::bigint[], %(kinds)s::text[], %(associations)s::bigint[])
                AS v(claim_id, kind, association_id)
            ON CONFLICT DO NOTHING
            """,
            {
                "claims": [c for c, _, _ in rows],
                "kinds": [str(k) for _, k, _ in rows],
                "associations": [a for _, _, a in rows],
                "pending": str(EmailNotification.State.PENDING),
                "now": timezone.now(),
            },
        )


def _emails_enqueue(ids):
    from claims.tasks import email_notifications_send_task

    email_notifications_send_task.delay(notification_ids=list(ids))


def _transition_effects_write(
    *, claim_ids, old_status, new_status, actor, user, action, reason, message, now, messages=None
):
    """The history rows and outbox rows of a transition: shared by ``claim_transition`` and the batch jobs.

    ``messages`` ({claim_id: message}) gives claims of a batch a message of their own (validation's reasons).
    """
    messages = messages or {}
    if len(claim_ids) == 1:
        claim_event_record(
            claim=Claim(pk=claim_ids[0]),
            actor=actor,
            user=user,
            action=action,
            old_status=old_status,
            new_status=new_status,
            reason=reason,
            message=messages.get(claim_ids[0], message),
        )
    elif connection.vendor == "postgresql":
        # One INSERT from arrays: bulk_create's per-object work cost more than the insert at batch sizes.
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO claims_claimevent (claim_id, created_at, actor, user_id, action, old_status, new_status,
                                               reason, message)
                SELECT v.claim_id, %(now)s, %(actor)s, %(user)s, %(action)s, %(old)s, %(new)s, %(reason)s,
                       COALESCE(v.message, %(message)s)
                FROM unnest(%(claims)s::bigint[], %(messages)s::text[]) AS v(claim_id, message)
                """,
                {
                    "claims": list(claim_ids),
                    "messages": [messages.get(claim_id) for claim_id in claim_ids] if messages else None,
                    "now": now,
                    "actor": str(actor),
                    "user": user.pk if user is not None and user.is_authenticated else None,
                    "action": action,
                    "old": str(old_status),
                    "new": str(new_status),
                    "reason": str(reason),
                    "message": message,
                },
            )
    else:
        ClaimEvent.objects.bulk_create(
            [
                ClaimEvent(
                    claim_id=claim_id,
                    created_at=now,
                    actor=actor,
                    user=user if user is not None and user.is_authenticated else None,
                    action=action,
                    old_status=old_status,
                    new_status=new_status,
                    reason=reason,
                    message=messages.get(claim_id, message),
                )
                for claim_id in claim_ids
            ]
        )
    kind = EMAIL_KIND_FOR_STATUS.get(new_status)
    if kind:
        _outbox_add([(claim_id, kind, None) for claim_id in claim_ids])


def claim_transition(*, claim, to, actor, user=None, action, reason="", message="", changes=None, from_statuses=None):
    """Move one claim to ``to``: the one place every status change of a single claim goes through.

    1. Lock the claim's row (callers racing on it queue here; the loser sees the winner's status).
    2. Check the move against TRANSITIONS (and ``from_statuses`` when the caller allows fewer).
    3. Save status, ``status_changed_at`` and ``changes`` with ``update_fields``.
    4. Write one ClaimEvent and the outbox rows; the emails are enqueued after commit.

    Raises ClaimStatusConflict when the claim is no longer in a status that allows the move.
    """
    to = ClaimStatus(to)
    with transaction.atomic():
        locked = Claim.objects.select_for_update().only("pk", "status").get(pk=claim.pk)
        current = ClaimStatus(locked.status)
        if to not in TRANSITIONS[current] or (from_statuses is not None and current not in from_statuses):
            raise ClaimStatusConflict(claim_id=claim.pk, current=current, to=to)
        now = timezone.now()
        fields = {"status": to, "status_changed_at": now, **(changes or {})}
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(fields))
        _transition_effects_write(
            claim_ids=[claim.pk],
            old_status=current,
            new_status=to,
            actor=actor,
            user=user,
            action=action,
            reason=reason,
            message=message,
            now=now,
        )
    for name, value in fields.items():
        setattr(claim, name, value)
    return claim


def _claims_transition_locked(
    *, claim_ids, old_status, to, actor, action, reason="", message="", messages=None, changes=None, now
):
    """The set-based ``claim_transition`` of batch jobs, for rows this transaction already holds locked."""
    if not claim_ids:
        return []
    if to not in TRANSITIONS[old_status]:
        raise ValueError(f"{old_status} -> {to} is not a transition")
    moved = Claim.objects.filter(pk__in=claim_ids, status=old_status).update(
        status=to, status_changed_at=now, **(changes or {})
    )
    if moved != len(claim_ids):
        # The caller did not hold every row: roll the whole batch back rather than write half of it.
        raise ClaimStatusConflict(claim_id=None, current="(changed under the batch)", to=to)
    _transition_effects_write(
        claim_ids=list(claim_ids),
        old_status=old_status,
        new_status=to,
        actor=ClaimEvent.Actor.SYSTEM if actor is None else actor,
        user=None,
        action=action,
        reason=reason,
        message=message,
        messages=messages,
        now=now,
    )
    return list(claim_ids)


# Validation ---------------------------------------------------------------------------------------------------

# How many submitted claims one validation run takes at once: a backlog drains in a few runs, and a batch's
# locks and memory stay small.
VALIDATION_BATCH_SIZE = 200
# POE objects read at once while validating a batch: the reads are waits on the storage (botocore's default
# pool keeps 10 connections).
POE_READ_THREADS = 10
# The sniffer reads the first bytes; Office and Outlook files need their zip directory or compound-file
# sectors too. Reads from S3 are ranged and buffered in blocks of this size, never the whole object.
POE_READ_BLOCK = 64 * 1024


def _item_key(program, tenant_id, product_id, subscription_id):
    """An item key of SPEC §2: (osu_m365, tenant, workload) or (program, subscription)."""
    if program == Program.OSU_M365:
        return (Program.OSU_M365, tenant_id, product_id)
    return (program, subscription_id)


def _keys_filter(items, tenant_id_of):
    """A superset filter (checked against the exact keys in Python) for the keys of ``items``."""
    m365 = [i for i in items if i.program == Program.OSU_M365]
    subs = [i for i in items if i.program != Program.OSU_M365 and i.subscription_id]
    q = Q(pk__in=[])
    if m365:
        q |= Q(
            program=Program.OSU_M365,
            tenant_id__in={tenant_id_of(i) for i in m365},
            product_id__in={i.product_id for i in m365},
        )
    if subs:
        q |= Q(subscription_id__in={i.subscription_id for i in subs}, program__in={i.program for i in subs})
    return q


class _S3Ranges(io.RawIOBase):
    """One S3 object as a seekable, read-only file that fetches only the byte ranges read from it.

    django-storages' S3File downloads the whole object (up to 10 MB per POE file) before the first read; the
    sniffer needs a few blocks of it.
    """

    def __init__(self, client, bucket, key):
        super().__init__()
        self._client, self._bucket, self._key = client, bucket, key
        self._position = 0
        self._size = None

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            offset += self._length()
        if offset < 0:
            raise ValueError("negative seek position")
        self._position = offset
        return offset

    def readinto(self, buffer):
        if not len(buffer) or (self._size is not None and self._position >= self._size):
            return 0
        data = self._get(self._position, self._position + len(buffer) - 1)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _length(self):
        if self._size is None:
            self._get(0, 0)
        return self._size

    def _get(self, first, last):
        from botocore.exceptions import ClientError

        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={first}-{last}")
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(self._key) from exc
            if code != "InvalidRange":
                raise
            # Reading at or past the end (an empty object): learn the size, read nothing.
            self._size = self._client.head_object(Bucket=self._bucket, Key=self._key)["ContentLength"]
            return b""
        self._size = int(response["ContentRange"].rsplit("/", 1)[1])
        return response["Body"].read()


def _poe_opener():
    """(A function that opens a stored POE file for the sniffer, whether its reads go over the network): ranged
    reads on S3, the storage's own otherwise."""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover - django-storages is a runtime requirement
        S3Storage = None
    if S3Storage is not None and isinstance(default_storage, S3Storage):
        from storages.utils import clean_name

        # One client for every thread: boto3 clients are thread-safe (its resources are not).
        client = default_storage.connection.meta.client
        bucket = default_storage.bucket_name

        def open_ranged(name):
            key = default_storage._normalize_name(clean_name(name))
            return io.BufferedReader(_S3Ranges(client, bucket, key), buffer_size=POE_READ_BLOCK)

        return open_ranged, True
    return (lambda name: default_storage.open(name, "rb")), False


def _poe_content_types(documents):
    """{PoeDocument pk: its type judged by content (the sniffer of ``claims.uploads``), or None}.

    A row with ``content_checked`` carries the sniffer's verdict on its object's bytes (taken at upload; the object
    is never overwritten): that type is used as it is, with no I/O. Any other row (written elsewhere than the
    wizard or the partner's answer) is sniffed again from the storage, ranged and in parallel. A file that is gone
    counts as not allowed; a storage that does not answer raises (the claim stays submitted and is validated
    again later). Files over the size limit are not read: their size is their reason.
    """
    documents = [d for d in documents if d.size <= settings.POE_MAX_BYTES]
    types = {d.pk: d.content_type for d in documents if d.content_checked}
    documents = [d for d in documents if not d.content_checked]
    if not documents:
        return types
    open_file, remote = _poe_opener()

    def sniff(document):
        try:
            with open_file(document.file.name) as handle:
                return detect_poe_type(handle.read(HEAD_BYTES), handle)
        except OSError:
            return None

    if len(documents) == 1 or not remote:
        # Local files are read in microseconds: threads would only add their own cost.
        return types | {d.pk: sniff(d) for d in documents}
    with ThreadPoolExecutor(max_workers=min(POE_READ_THREADS, len(documents))) as pool:
        return types | dict(zip([d.pk for d in documents], pool.map(sniff, documents), strict=True))


@dataclass
class _ValidationFacts:
    """What the rules of SPEC §5 read, for a whole batch of claims (see ``_validation_facts``)."""

    tenants: dict  # directory_id -> Tenant
    domains: set  # (tenant_id, domain name)
    licences: set  # (tenant_id, product_id)
    held: dict  # item key -> [partner_id of an active association, ...]
    pending: dict  # item key -> [(partner_id, item_id, claim_id) of an open claim's item, ...]
    poe_types: dict  # PoeDocument pk -> type by content, or None


def _validation_facts(claims):
    """Read everything the rules need for ``claims`` (items and documents prefetched) in a fixed number of queries,
    whatever the batch size: tenants, their matching domains, licences, active associations and open claims' items
    for every item key of the batch (superset filters; the rules match exact keys), and the POE types."""
    directory_ids = {c.directory_id for c in claims}
    tenants = {t.directory_id: t for t in Tenant.objects.filter(directory_id__in=directory_ids)}
    domains = set(
        TenantDomain.objects.filter(
            tenant__directory_id__in=directory_ids, name__in={normalize_domain(c.domain) for c in claims}
        ).values_list("tenant_id", "name")
    )
    tenant_of_claim = {c.pk: tenants[c.directory_id].pk for c in claims if c.directory_id in tenants}
    items = [i for c in claims if c.pk in tenant_of_claim for i in c.items.all()]

    def tenant_of(item):
        return item.tenant_id or tenant_of_claim[item.claim_id]

    m365 = [i for i in items if i.program == Program.OSU_M365]
    licences = set()
    if m365:
        licences = set(
            TenantLicense.objects.filter(
                tenant_id__in={tenant_of_claim[i.claim_id] for i in m365}, product_id__in={i.product_id for i in m365}
            ).values_list("tenant_id", "product_id")
        )
    held, pending = {}, {}
    if items:
        keys_q = _keys_filter(items, tenant_of)
        for program, t_id, product_id, sub_id, partner_id in (
            Association.objects.active()
            .filter(keys_q)
            .values_list("program", "tenant_id", "product_id", "subscription_id", "partner_id")
        ):
            held.setdefault(_item_key(program, t_id, product_id, sub_id), []).append(partner_id)
        for program, t_id, product_id, sub_id, partner_id, item_id, claim_id in ClaimItem.objects.filter(
            keys_q, claim__status__in=ClaimStatus.open()
        ).values_list("program", "tenant_id", "product_id", "subscription_id", "claim__partner_id", "pk", "claim_id"):
            pending.setdefault(_item_key(program, t_id, product_id, sub_id), []).append((partner_id, item_id, claim_id))
    poe_types = _poe_content_types([d for c in claims for d in c.documents.all()])
    return _ValidationFacts(tenants, domains, licences, held, pending, poe_types)


def _claim_problems(claim, *, facts, closed, today):
    """Every rule of SPEC §5 against the data as it is now: (tenant, reasons, competing item ids, other items).

    ``closed`` are the claims of this batch already rejected: no longer pending for the claims after them, as if
    the batch had been validated one claim after the other, oldest first.
    """
    reasons = []
    location = claim.location
    if location.partner_id != claim.partner_id:
        reasons.append(f"The MPN ID {location.mpn_id} does not belong to your organization.")
    elif not location.is_active:
        reasons.append(f"The MPN ID {location.mpn_id} is not active.")

    tenant = facts.tenants.get(claim.directory_id)
    if tenant is None:
        reasons.append(f"The Directory ID {claim.directory_id} is not a known customer tenant.")
    elif (tenant.pk, normalize_domain(claim.domain)) not in facts.domains:
        reasons.append(f"The domain name {claim.domain} does not belong to the tenant of this Directory ID.")

    items = list(claim.items.all())  # prefetched with product and subscription
    if not items:
        reasons.append("The claim names no products.")

    tenant_id = tenant.pk if tenant else None
    for item in items:
        product = item.product
        if product.solution_area != claim.solution_area:
            reasons.append(f"{product.name} is not a {SolutionArea(claim.solution_area).label} product.")
            continue
        if item.program == Program.OSU_M365:
            if tenant and (tenant.pk, item.product_id) not in facts.licences:
                reasons.append(f"{product.name} is not licensed on this tenant.")
            continue
        subscription = item.subscription
        if subscription is None:
            reasons.append(f"{product.name} needs a subscription ID.")
        elif tenant and subscription.tenant_id != tenant.pk:
            reasons.append(f"The subscription ID {subscription.subscription_id} does not belong to this tenant.")
        elif subscription.product_id != item.product_id:
            reasons.append(f"The subscription ID {subscription.subscription_id} is not a {product.name} subscription.")
        elif not subscription.is_active_on(today):
            reasons.append(f"{product.name} has no active subscription on this tenant.")

    competing_ids, others = set(), set()
    if tenant and items:
        wanted = {_item_key(i.program, i.tenant_id or tenant_id, i.product_id, i.subscription_id): i for i in items}
        mine_held, mine_pending = set(), set()
        for key, item in wanted.items():
            for partner_id in facts.held.get(key, ()):
                if partner_id == claim.partner_id:
                    mine_held.add(item.pk)
                else:
                    competing_ids.add(item.pk)
            for partner_id, other_item_id, other_claim_id in facts.pending.get(key, ()):
                if other_claim_id == claim.pk or other_claim_id in closed:
                    continue
                if partner_id == claim.partner_id:
                    mine_pending.add(item.pk)
                else:
                    competing_ids.add(item.pk)
                    others.add((other_item_id, other_claim_id))
        for item in items:
            if item.pk in mine_held:
                reasons.append(f"{item.product.name} is already associated with your organization.")
            elif item.pk in mine_pending:
                reasons.append(f"{item.product.name} is already claimed in another open claim of your organization.")

    reasons += _contact_problems(claim, needs_technical=any(i.product.is_dynamics for i in items))
    reasons += _poe_problems(list(claim.documents.all()), facts.poe_types)
    return tenant, reasons, competing_ids, others


def _contact_problems(claim, *, needs_technical):
    contacts = [
        (
            "The customer contact's",
            claim.customer_contact_name,
            claim.customer_contact_title,
            claim.customer_contact_email,
        ),
        ("Your company's contact", claim.partner_contact_name, None, claim.partner_contact_email),
    ]
    if needs_technical:
        contacts.insert(
            1,
            (
                "The customer's technical contact's",
                claim.technical_contact_name,
                claim.technical_contact_title,
                claim.technical_contact_email,
            ),
        )
    reasons = []
    for who, name, title, email in contacts:
        if not (name or "").strip():
            reasons.append(f"{who} name is missing.")
        if title is not None and not (title or "").strip():
            reasons.append(f"{who} title is missing.")
        if not (email or "").strip():
            reasons.append(f"{who} email address is missing.")
        else:
            try:
                validate_email(email)
            except ValidationError:
                reasons.append(f"{who} email address {email} is not valid.")
    return reasons


def _poe_problems(documents, poe_types):
    if not documents:
        return ["No proof of execution (POE) was uploaded."]
    reasons = []
    if len(documents) > settings.POE_MAX_FILES:
        reasons.append(f"At most {settings.POE_MAX_FILES} POE files are allowed; this claim has {len(documents)}.")
    allowed = ", ".join(POE_TYPES.values())
    for document in documents:
        if document.size > settings.POE_MAX_BYTES:
            reasons.append(f"The POE file {document.original_name} is larger than 10 MB.")
            continue
        if poe_types.get(document.pk) not in POE_TYPES:
            reasons.append(f"The POE file {document.original_name} is not an allowed type ({allowed}).")
    return reasons


def _claim_items_flag_competing(item_ids, *, open_only=False):
    """Set ``competing`` on these items in one statement that locks them in id order.

    Runs flagging overlapping items (a batch its own, another batch the other partner's) then always queue in
    the same order and never deadlock.
    """
    rows = ClaimItem.objects.select_for_update(of=("self",)).filter(pk__in=item_ids, competing=False)
    if open_only:
        rows = rows.filter(claim__status__in=ClaimStatus.open())
    return ClaimItem.objects.filter(pk__in=Subquery(rows.order_by("pk").values("pk"))).update(competing=True)


def _claims_outcome_write(claims):
    """Each claim's own tenant, ``competing`` and rejection reasons, in one statement."""
    if connection.vendor != "postgresql":
        Claim.objects.bulk_update(claims, ["tenant", "competing", "rejection_reasons"])
        return
    # bulk_update's CASE expressions cost more to build than the whole validation; one UPDATE from arrays
    # does the same in a fraction of that.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE claims_claim AS claim
            SET tenant_id = v.tenant_id, competing = v.competing, rejection_reasons = v.reasons
            FROM (
                SELECT unnest(%s::bigint[]) AS id, unnest(%s::bigint[]) AS tenant_id,
                       unnest(%s::boolean[]) AS competing, unnest(%s::jsonb[]) AS reasons
            ) AS v
            WHERE claim.id = v.id
            """,
            [
                [c.pk for c in claims],
                [c.tenant.pk if c.tenant else None for c in claims],
                [c.competing for c in claims],
                [json.dumps(c.rejection_reasons) for c in claims],
            ],
        )


def _claims_validate_locked(claim_ids, *, today, now):
    """Validate the submitted claims this transaction holds locked; returns ({id: new status}, other items).

    1. Load the claims with their items and documents, and every fact the rules need (``_validation_facts``).
    2. Decide each claim with the rules of ``_claim_problems``, oldest first.
    3. Write: tenant, ``competing`` and reasons (one UPDATE), then the two transitions (set-based, with their
       ClaimEvents and outbox rows), then the competing items.
    The other partners' open items that compete with a claim that passed are returned for the caller to flag
    after commit.
    """
    claims = list(
        Claim.objects.filter(pk__in=claim_ids)
        .select_related("location")
        .prefetch_related(
            Prefetch("items", queryset=ClaimItem.objects.select_related("product", "subscription")), "documents"
        )
        .order_by("submitted_at", "pk")
    )
    if not claims:
        return {}, set()
    facts = _validation_facts(claims)
    closed, competing_items, others = set(), set(), set()
    for claim in claims:
        tenant, reasons, competing_ids, claim_others = _claim_problems(claim, facts=facts, closed=closed, today=today)
        claim.tenant, claim.competing, claim.rejection_reasons = tenant, bool(competing_ids), reasons
        competing_items |= competing_ids
        if reasons:
            closed.add(claim.pk)
        else:
            # A rejected claim is final: it competes with nobody, so only a claim that passed flags the others.
            others |= claim_others
    _claims_outcome_write(claims)
    passed = [c.pk for c in claims if not c.rejection_reasons]
    rejected = [c for c in claims if c.rejection_reasons]
    _claims_transition_locked(
        claim_ids=passed,
        old_status=ClaimStatus.SUBMITTED,
        to=ClaimStatus.UNDER_REVIEW,
        actor=ClaimEvent.Actor.SYSTEM,
        action="validated",
        now=now,
    )
    _claims_transition_locked(
        claim_ids=[c.pk for c in rejected],
        old_status=ClaimStatus.SUBMITTED,
        to=ClaimStatus.REJECTED,
        actor=ClaimEvent.Actor.SYSTEM,
        action="validation_failed",
        reason=RejectionReason.VALIDATION,
        messages={c.pk: "\n".join(c.rejection_reasons) for c in rejected},
        now=now,
    )
    if competing_items:
        _claim_items_flag_competing(competing_items)
    outcome = dict.fromkeys(passed, ClaimStatus.UNDER_REVIEW) | {c.pk: ClaimStatus.REJECTED for c in rejected}
    return outcome, others


def _claims_validate_run(take):
    """Lock a batch with ``take()`` (SKIP LOCKED queries returning ids), validate it, flag the competitors."""
    with transaction.atomic():
        claim_ids = take()
        if not claim_ids:
            return {}
        outcome, others = _claims_validate_locked(claim_ids, today=timezone.localdate(), now=timezone.now())
    if others:
        # The other partners' open claims compete with these too: flag them for their reviewer, after our commit
        # and in transactions of their own (items, then claims, each locked in id order), so that this never
        # waits on another batch while holding our own rows.
        with transaction.atomic():
            _claim_items_flag_competing({i for i, _ in others}, open_only=True)
        with transaction.atomic():
            rows = Claim.objects.select_for_update().filter(
                pk__in={c for _, c in others}, competing=False, status__in=ClaimStatus.open()
            )
            Claim.objects.filter(pk__in=Subquery(rows.order_by("pk").values("pk"))).update(competing=True)
    return outcome


def _submitted_locked():
    # Validation takes submitted claims with SKIP LOCKED: a claim another run is validating right now is its.
    return Claim.objects.select_for_update(skip_locked=True).filter(status=ClaimStatus.SUBMITTED).order_by()


def claims_validate(*, claim_ids):
    """Automatic validation (SPEC §5) of a batch of submitted claims: ``under_review`` on a pass, ``rejected``
    with the reasons otherwise; items held or pending with another partner mark the claim competing.

    A fixed number of queries whatever the batch size (see ``_claims_validate_locked``). Claims that are no longer
    ``submitted`` (a second run, a redelivered task) or that another run holds are left alone, so two runs at
    once validate each claim once. Returns {claim_id: new status} for the claims this run validated.
    """
    claim_ids = list(claim_ids)
    if not claim_ids:
        return {}
    return _claims_validate_run(lambda: list(_submitted_locked().filter(pk__in=claim_ids).values_list("pk", flat=True)))


def claim_validate(*, claim_id):
    """Automatic validation of one submitted claim (``claims_validate`` with one id).

    Idempotent: returns the claim's new status, or None when there was nothing to do.
    """
    return claims_validate(claim_ids=[claim_id]).get(claim_id)


def claims_validate_waiting(*, claim_id, batch_size=VALIDATION_BATCH_SIZE):
    """The validation task's work: ``claim_id`` and up to ``batch_size - 1`` other waiting submitted claims, oldest
    first, in one batch. A backlog drains ``batch_size`` claims per task; the later tasks find their claim done.

    Two workers take disjoint batches (SKIP LOCKED with a LIMIT). Returns {claim_id: new status}.
    """

    def take():
        ids = list(_submitted_locked().filter(pk=claim_id).values_list("pk", flat=True))
        if not ids:
            # Done already, or another run holds it (with the batch it took): this task has nothing to add.
            return []
        ids += (
            _submitted_locked()
            .exclude(pk=claim_id)
            .order_by("submitted_at", "pk")
            .values_list("pk", flat=True)[: batch_size - 1]
        )
        return ids

    return _claims_validate_run(take)


def claims_requeue_unvalidated(*, older_than=datetime.timedelta(minutes=2), now=None, limit=1000):
    """Re-enqueue validation of claims still ``submitted`` after a while (a lost broker, a dead worker).

    One task per ``VALIDATION_BATCH_SIZE`` claims: each validates a batch of the oldest waiting ones. Returns how
    many claims were waiting.
    """
    from claims.tasks import claim_validate_task

    now = now or timezone.now()
    ids = list(
        Claim.objects.filter(status=ClaimStatus.SUBMITTED, submitted_at__lt=now - older_than)
        .order_by("submitted_at")
        .values_list("pk", flat=True)[:limit]
    )
    for claim_id in ids[::VALIDATION_BATCH_SIZE]:
        claim_validate_task.delay(claim_id=claim_id)
    return len(ids)


# Review -------------------------------------------------------------------------------------------------------


def _tenant_deadline(claim, now):
    tenant = claim.tenant
    if tenant is None:
        tenant = Tenant.objects.get(directory_id=claim.directory_id)
    return deadline_after(now, country=tenant.country, time_zone=tenant.time_zone)


def claim_approve(*, claim, user):
    """The reviewer approves: the customer is notified and the opt-out window of SPEC §6 starts."""
    now = timezone.now()
    return claim_transition(
        claim=claim,
        to=ClaimStatus.CUSTOMER_NOTIFIED,
        actor=ClaimEvent.Actor.REVIEWER,
        user=user,
        action="approved",
        changes={"customer_notified_at": now, "opt_out_deadline": _tenant_deadline(claim, now)},
        from_statuses=[ClaimStatus.UNDER_REVIEW],
    )


def claim_request_information(*, claim, user, reason, message):
    """The reviewer asks the partner for more; the partner has 5 business days to answer."""
    reason = InformationReason(reason)
    return claim_transition(
        claim=claim,
        to=ClaimStatus.ACTION_REQUIRED,
        actor=ClaimEvent.Actor.REVIEWER,
        user=user,
        action="information_requested",
        reason=reason,
        message=message.strip(),
        changes={"response_deadline": _tenant_deadline(claim, timezone.now())},
        from_statuses=[ClaimStatus.UNDER_REVIEW],
    )


def claim_reject(*, claim, user, reason, message=""):
    reason = RejectionReason(reason)
    reasons = [reason.label] + ([message.strip()] if message.strip() else [])
    return claim_transition(
        claim=claim,
        to=ClaimStatus.REJECTED,
        actor=ClaimEvent.Actor.REVIEWER,
        user=user,
        action="rejected",
        reason=reason,
        message=message.strip(),
        changes={"rejection_reasons": reasons},
        from_statuses=[ClaimStatus.UNDER_REVIEW, ClaimStatus.ACTION_REQUIRED],
    )


def claim_respond(*, claim, user, comment, files):
    """The partner answers an information request with a comment and/or more POE files: back to review.

    ``files`` are (uploaded file, ``claims.uploads.CheckedUpload``) pairs: already checked by ``poe_check``
    (type by content, size).

    1. Store each file as a PendingUpload (row first, then object), like the wizard: a crash leaves only rows
       that the purge job cleans up.
    2. In one transaction, move the claim back to review and turn the uploads into PoeDocuments (same keys).
    3. If the claim was moved meanwhile (or anything fails), delete the stored files again.
    """
    pending = []
    try:
        wizard_key = f"respond-{claim.pk}-{uuid.uuid4().hex}"
        for upload, checked in files:
            pending.append(
                _pending_upload_store(
                    partner=claim.partner, user=user, wizard_key=wizard_key, uploaded_file=upload, checked=checked
                )
            )
        with transaction.atomic():
            claim_transition(
                claim=claim,
                to=ClaimStatus.UNDER_REVIEW,
                actor=ClaimEvent.Actor.PARTNER,
                user=user,
                action="responded",
                message=comment.strip(),
                changes={"response_deadline": None},
                from_statuses=[ClaimStatus.ACTION_REQUIRED],
            )
            PoeDocument.objects.bulk_create(
                PoeDocument(
                    claim_id=claim.pk,
                    file=upload.file.name,
                    original_name=upload.original_name,
                    content_type=upload.content_type,
                    size=upload.size,
                    sha256=upload.sha256,
                    uploaded_by=user,
                    in_response=True,
                    content_checked=True,  # typed by content in poe_check
                )
                for upload in pending
            )
            PendingUpload.objects.filter(pk__in=[upload.pk for upload in pending]).delete()
    except BaseException:
        for upload in pending:
            pending_upload_delete(partner=claim.partner, wizard_key=wizard_key, upload_id=upload.pk)
        raise
    return claim


def claims_expire_information_requests(*, now=None, batch_size=500):
    """Reject every ``action_required`` claim whose 5 business days have passed ("no response")."""
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Claim.objects.select_for_update(skip_locked=True)
                .filter(status=ClaimStatus.ACTION_REQUIRED, response_deadline__lt=now)
                .order_by("response_deadline", "pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            _claims_transition_locked(
                claim_ids=ids,
                old_status=ClaimStatus.ACTION_REQUIRED,
                to=ClaimStatus.REJECTED,
                actor=ClaimEvent.Actor.SYSTEM,
                action="no_response",
                reason=RejectionReason.NO_RESPONSE,
                changes={"rejection_reasons": [RejectionReason.NO_RESPONSE.label], "response_deadline": None},
                now=now,
            )
        total += len(ids)
        if len(ids) < batch_size:
            return total


# The customer -------------------------------------------------------------------------------------------------


class OptOutResult(models.TextChoices):
    OPTED_OUT = "opted_out", "Opted out"
    ALREADY = "already", "Already opted out"
    CLOSED = "closed", "The window has closed"


def claim_opt_out(*, claim, now=None):
    """The customer opts out. Under the claim's row lock, so it and finalization never both act on a claim."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        if locked.status == ClaimStatus.OPTED_OUT:
            return OptOutResult.ALREADY
        if locked.status != ClaimStatus.CUSTOMER_NOTIFIED or now > locked.opt_out_deadline:
            return OptOutResult.CLOSED
        claim_transition(
            claim=locked,
            to=ClaimStatus.OPTED_OUT,
            actor=ClaimEvent.Actor.CUSTOMER,
            action="opted_out",
            from_statuses=[ClaimStatus.CUSTOMER_NOTIFIED],
        )
    claim.status = locked.status
    return OptOutResult.OPTED_OUT


# Finalization and ends ----------------------------------------------------------------------------------------


def _item_keys_lock(keys):
    """Serialise writers of the same item keys (PostgreSQL advisory locks, in a fixed order: no deadlocks).

    Two runs finalizing competing claims for one workload in different batches would otherwise both see no
    active association and the second would fail on the partial unique constraint.
    """
    if connection.vendor != "postgresql" or not keys:
        return
    numbers = sorted(
        {int.from_bytes(hashlib.blake2b(repr(k).encode(), digest_size=8).digest(), "big", signed=True) for k in keys}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY 1) AS keys", [numbers]
        )


def _associations_end(*, ids, reason, now, message=""):
    if ids:
        Association.objects.filter(pk__in=ids).update(
            status=Association.Status.ENDED, ended_at=now, end_reason=reason, end_message=message
        )


def _claims_end_without_associations(*, association_ids, action, reason, now):
    """Official claims whose associations are now all ended become ``ended``.

    Returns (the ids among ``association_ids`` that came from a claim, those whose claim stays official).
    """
    rows = list(ClaimItem.objects.filter(association_id__in=association_ids).values_list("association_id", "claim_id"))
    claim_ids = sorted({c for _, c in rows})
    ending = list(
        Claim.objects.select_for_update()
        .filter(pk__in=claim_ids, status=ClaimStatus.OFFICIAL)
        .exclude(items__association__status=Association.Status.ACTIVE)
        .values_list("pk", flat=True)
    )
    _claims_transition_locked(
        claim_ids=ending,
        old_status=ClaimStatus.OFFICIAL,
        to=ClaimStatus.ENDED,
        actor=ClaimEvent.Actor.SYSTEM,
        action=action,
        reason=reason,
        now=now,
    )
    ended = set(ending)
    return {a for a, _ in rows}, {a for a, c in rows if c not in ended}


def _claims_finalize_locked(claim_ids, *, now):
    """Make the locked, due claims official (see ``claims_finalize_due``): a fixed number of statements a chunk.

    1. Read the claims' items with their claim's partner, location and tenant (one query, plain tuples: model
       instances cost more than the writes), and take the advisory locks of their item keys.
    2. Move the claims to official through the shared transition helpers (one UPDATE, history and outbox rows).
    3. End the holders of the same keys: another partner's association is replaced, the same partner's imported
       Microsoft 365 (legacy) one is reassociated.
    4. Insert one Association per item and link the item to it (``_associations_create_for_items``).
    5. A claim left with no active association ends; the replaced partners are told.
    """
    items = list(
        ClaimItem.objects.filter(claim_id__in=claim_ids)
        .order_by()
        .annotate(
            key_tenant_id=Coalesce("tenant_id", "claim__tenant_id"),
            partner_id=F("claim__partner_id"),
            location_id=F("claim__location_id"),
        )
        .values_list(
            "pk",
            "claim_id",
            "program",
            "key_tenant_id",
            "product_id",
            "subscription_id",
            "partner_id",
            "location_id",
            named=True,
        )
    )
    order = {claim_id: n for n, claim_id in enumerate(claim_ids)}
    items.sort(key=lambda i: (order[i.claim_id], i.pk))
    partner_of = {item.claim_id: item.partner_id for item in items}

    keys = [_item_key(i.program, i.key_tenant_id, i.product_id, i.subscription_id) for i in items]
    _item_keys_lock(keys)

    _claims_transition_locked(
        claim_ids=claim_ids,
        old_status=ClaimStatus.CUSTOMER_NOTIFIED,
        to=ClaimStatus.OFFICIAL,
        actor=ClaimEvent.Actor.SYSTEM,
        action="finalized",
        now=now,
    )

    # Within a batch, of two claims for one key the one finalized last (latest deadline) wins.
    winner_for_key = {}
    for item, key in zip(items, keys, strict=True):
        winner_for_key[key] = item.claim_id

    # Holders of the same keys: another partner's active association is replaced; an imported Microsoft 365
    # (legacy) one of the same partner is superseded by this claim.
    replaced, reassociated, winner_of = [], [], {}
    rows = (
        Association.objects.select_for_update()
        .filter(
            _keys_filter(items, lambda i: i.key_tenant_id),
            status__in=[Association.Status.ACTIVE, Association.Status.LEGACY],
        )
        .values_list("pk", "program", "tenant_id", "product_id", "subscription_id", "partner_id", "status")
    )
    for pk, program, tenant_id, product_id, subscription_id, partner_id, status in rows:
        winner = winner_for_key.get(_item_key(program, tenant_id, product_id, subscription_id))
        if winner is None:
            continue  # the superset filter matched a key nobody in this batch claims
        if partner_id == partner_of[winner]:
            if status == Association.Status.LEGACY:
                reassociated.append(pk)
            else:
                replaced.append(pk)
        else:
            replaced.append(pk)
            winner_of[pk] = winner
    _associations_end(ids=replaced, reason=Association.EndReason.REPLACED, now=now)
    _associations_end(ids=reassociated, reason=Association.EndReason.REASSOCIATED, now=now)

    won = [winner_for_key[key] == item.claim_id for item, key in zip(items, keys, strict=True)]
    created = _associations_create_for_items(items, won=won, now=now)
    for item, key, association_id, item_won in zip(items, keys, created, won, strict=True):
        if not item_won:
            replaced.append(association_id)
            if partner_of[winner_for_key[key]] != item.partner_id:
                winner_of[association_id] = winner_for_key[key]

    # The replaced partners are told: a claim left with nothing becomes "ended" (that email says why);
    # otherwise, and for imported associations, a "replaced" email names the item.
    from_claims, still_official = _claims_end_without_associations(
        association_ids=replaced, action="replaced", reason=Association.EndReason.REPLACED, now=now
    )
    _outbox_add(
        [
            (winner, EmailNotification.Kind.REPLACED, pk)
            for pk, winner in winner_of.items()
            if pk in still_official or pk not in from_claims
        ]
    )
    return len(claim_ids)


def _associations_create_for_items(items, *, won, now):
    """Insert one claim Association per item (active where ``won``, else ended as replaced) and set each item's
    ``association``; returns the new ids in the order of ``items``.

    On PostgreSQL one statement does both: the ids are drawn from the table's sequence first, so the INSERT and
    the UPDATE of the items agree on them without relying on the order of RETURNING rows. (bulk_create plus
    bulk_update took most of finalization's time: bulk_update builds one CASE branch per item.)
    """
    if not items:
        return []
    if connection.vendor != "postgresql":
        new = [
            Association(
                partner_id=item.partner_id,
                location_id=item.location_id,
                program=item.program,
                tenant_id=item.key_tenant_id,
                product_id=item.product_id,
                subscription_id=item.subscription_id,
                status=Association.Status.ACTIVE if item_won else Association.Status.ENDED,
                source=Association.Source.CLAIM,
                started_at=now,
                ended_at=None if item_won else now,
                end_reason="" if item_won else Association.EndReason.REPLACED,
            )
            for item, item_won in zip(items, won, strict=True)
        ]
        Association.objects.bulk_create(new)
        ClaimItem.objects.bulk_update(
            [ClaimItem(pk=item.pk, association_id=a.pk) for item, a in zip(items, new, strict=True)], ["association"]
        )
        return [a.pk for a in new]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH new AS (
                SELECT nextval(pg_get_serial_sequence('associations_association', 'id')) AS id, v.*
                FROM unnest(%(item)s::bigint[], %(partner)s::bigint[], %(location)s::bigint[], %(program)s::text[],
                            %(tenant)s::bigint[], %(product)s::bigint[], %(subscription)s::bigint[], %(won)s::boolean[])
                     AS v(item_id, partner_id, location_id, program, tenant_id, product_id, subscription_id, won)
            ), inserted AS (
                INSERT INTO associations_association (id, partner_id, location_id, program, tenant_id, product_id,
                                                      subscription_id, status, source, started_at, ended_at,
                                                      end_reason, end_message)
                SELECT id, partner_id, location_id, program, tenant_id, product_id, subscription_id,
                       CASE WHEN won THEN %(active)s ELSE %(ended)s END, %(source)s, %(now)s,
                       CASE WHEN won THEN NULL ELSE %(now)s::timestamptz END,
                       CASE WHEN won THEN '' ELSE %(replaced)s END, ''
                FROM new
            )
            UPDATE claims_claimitem AS item SET association_id = new.id
            FROM new WHERE item.id = new.item_id
            RETURNING item.id, new.id
            """,
            {
                "item": [i.pk for i in items],
                "partner": [i.partner_id for i in items],
                "location": [i.location_id for i in items],
                "program": [i.program for i in items],
                "tenant": [i.key_tenant_id for i in items],
                "product": [i.product_id for i in items],
                "subscription": [i.subscription_id for i in items],
                "won": won,
                "active": Association.Status.ACTIVE,
                "ended": Association.Status.ENDED,
                "source": Association.Source.CLAIM,
                "replaced": Association.EndReason.REPLACED,
                "now": now,
            },
        )
        association_of = dict(cursor.fetchall())
    return [association_of[item.pk] for item in items]


def claims_finalize_due(*, now=None, batch_size=500):
    """Make every ``customer_notified`` claim past its opt-out deadline official (a beat job).

    Chunks of ``batch_size`` claims, each taken with ``select_for_update(skip_locked=True)`` in its own
    transaction: two runs at once take disjoint chunks, and a customer opting out holds the row lock, so
    exactly one of them acts. Writes are set-based (one UPDATE, bulk inserts). Returns how many became official.
    """
    now = now or timezone.now()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Claim.objects.select_for_update(skip_locked=True)
                .filter(status=ClaimStatus.CUSTOMER_NOTIFIED, opt_out_deadline__lt=now)
                .order_by("opt_out_deadline", "pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                _claims_finalize_locked(ids, now=now)
        total += len(ids)
        if len(ids) < batch_size:
            return total


def claim_disassociate(*, claim, user, reason):
    """The partner ends an official claim's associations (SPEC §5 ``ended``)."""
    reason = reason.strip()
    now = timezone.now()
    with transaction.atomic():
        claim_transition(
            claim=claim,
            to=ClaimStatus.ENDED,
            actor=ClaimEvent.Actor.PARTNER,
            user=user,
            action="disassociated",
            reason=Association.EndReason.DISASSOCIATED,
            message=reason,
            from_statuses=[ClaimStatus.OFFICIAL],
        )
        ids = list(
            Association.objects.select_for_update()
            .filter(claim_item__claim_id=claim.pk, status=Association.Status.ACTIVE)
            .values_list("pk", flat=True)
        )
        _associations_end(ids=ids, reason=Association.EndReason.DISASSOCIATED, now=now, message=reason)
    return claim


def associations_end_expired(*, today=None, batch_size=500):
    """End active associations whose subscription has ended (imported Dynamics 365 / Power BI ones, and those
    from claims); a claim left with no active association becomes ``ended``."""
    today = today or timezone.localdate()
    now = timezone.now()
    total = 0
    expired = Q(subscription__isnull=False) & (
        ~Q(subscription__state=Subscription.State.ACTIVE) | Q(subscription__end_date__lt=today)
    )
    counted = Q(source=Association.Source.CLAIM) | Q(product__is_dynamics=True) | Q(product__code="power-bi-pro")
    while True:
        with transaction.atomic():
            ids = list(
                Association.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(expired, counted, status=Association.Status.ACTIVE)
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            _associations_end(ids=ids, reason=Association.EndReason.SUBSCRIPTION_ENDED, now=now)
            _claims_end_without_associations(
                association_ids=ids,
                action="subscription_ended",
                reason=Association.EndReason.SUBSCRIPTION_ENDED,
                now=now,
            )
        total += len(ids)
        if len(ids) < batch_size:
            return total


# Emails -------------------------------------------------------------------------------------------------------


class EmailTransientError(Exception):
    """Sending failed in a way worth retrying (the row is back to pending)."""


def _smtp_transient(exc):
    """4xx replies, lost connections and network errors are worth retrying; 5xx replies are not."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    # SMTPException subclasses OSError: anything else from smtplib is permanent, plain network errors are not.
    return not isinstance(exc, smtplib.SMTPException)


def email_notification_send(*, notification_id):
    """Send one outbox row, at most once.

    1. Claim it with a conditional UPDATE pending -> sending (committed before anything is sent): a second
       task for the same row, or a re-enqueue, finds nothing to claim.
    2. Send; mark ``sent``. A worker that dies between send and mark leaves the row in ``sending``: it is never
       resent automatically (at most once) and shows in admin.
    3. A transient SMTP failure puts the row back to ``pending`` and raises EmailTransientError for the task to
       retry with backoff; a permanent one, or the last attempt, marks it ``failed``.
    """
    claimed = EmailNotification.objects.filter(pk=notification_id, state=EmailNotification.State.PENDING).update(
        state=EmailNotification.State.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    notification = EmailNotification.objects.select_related(
        "claim__partner", "claim__location", "claim__tenant", "association__partner", "association__product"
    ).get(pk=notification_id)
    mark = EmailNotification.objects.filter(pk=notification_id, state=EmailNotification.State.SENDING)
    try:
        message = emails.notification_email(notification)
        if message is not None:
            message.send()
    except (smtplib.SMTPException, OSError) as exc:
        retry = _smtp_transient(exc) and notification.attempts < EMAIL_MAX_ATTEMPTS
        mark.update(
            state=EmailNotification.State.PENDING if retry else EmailNotification.State.FAILED,
            last_error=str(exc)[:2000],
        )
        if retry:
            raise EmailTransientError(str(exc)) from exc
        return False
    except Exception as exc:
        mark.update(state=EmailNotification.State.FAILED, last_error=repr(exc)[:2000])
        raise
    mark.update(state=EmailNotification.State.SENT, sent_at=timezone.now(), last_error="")
    return True


def emails_requeue_pending(*, older_than=datetime.timedelta(minutes=5), now=None, limit=1000):
    """Re-enqueue outbox rows still pending after a while (lost broker, dead worker before claiming them)."""
    now = now or timezone.now()
    ids = list(
        EmailNotification.objects.filter(state=EmailNotification.State.PENDING, created_at__lt=now - older_than)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    if ids:
        _emails_enqueue(ids)
    return len(ids)


# Usage data ---------------------------------------------------------------------------------------------------


def claim_usage(*, claim):
    """The usage of the claim's officially associated products: {product: [UsageRecord, ...]} by month."""
    items = [i for i in claim.items.all() if i.association_id]
    products = {i.product_id: i.product for i in items}
    tenant_ids = {i.association.tenant_id for i in items}
    records = UsageRecord.objects.filter(tenant_id__in=tenant_ids, product_id__in=products).order_by(
        "product__sort_order", "month"
    )
    usage = {product: [] for product in sorted(products.values(), key=lambda p: p.sort_order)}
    for record in records:
        usage[products[record.product_id]].append(record)
    return usage


# Claim counts -------------------------------------------------------------------------------------------------


def claim_counts_lock(*, wait):
    """Take the transaction-level lock held by whatever writes PartnerClaimCount and deletes deltas: the
    compaction, or ``claims_counts_verify --fix``. With ``wait=False``, False when someone else holds it.
    PostgreSQL only; call it inside ``transaction.atomic()``."""
    # Keyed on the log table's oid, in the two-key space of advisory locks, apart from _item_keys_lock's.
    key = "'claims_partnerclaimcountdelta'::regclass::oid::int, 0"
    with connection.cursor() as cursor:
        if wait:
            cursor.execute(f"SELECT pg_advisory_xact_lock({key})")
            return True
        cursor.execute(f"SELECT pg_try_advisory_xact_lock({key})")
        return cursor.fetchone()[0]


def claim_counts_compact():
    """Fold the claim count deltas the claims_claim triggers logged (migration 0007) into PartnerClaimCount.

    Returns how many delta rows it folded, or None when another compaction is running (it has the rows).
    Nothing to do on SQLite, which has no triggers.

    Exact while claims are written: the DELETE takes exactly the delta rows committed before it started (its
    snapshot); a row committed later, or by a transaction still open, stays for the next run, and a rolled-back
    writer's rows never become visible. Only this function deletes deltas and writes the counters (apart from
    ``claims_counts_verify --fix``), and ``claim_counts_lock`` lets one of them run at a time, so no row is folded
    twice. The DELETE and the upsert commit together: a reader, who sums counters and deltas in one
    query, sees every moved delta either still in the log or already in the counters, never both or neither.
    Writers never wait on this: they only INSERT deltas, which the DELETE does not lock.
    """
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        if not claim_counts_lock(wait=False):
            return None
        cursor.execute(
            """
            WITH moved AS (
                DELETE FROM claims_partnerclaimcountdelta RETURNING partner_id, status, delta
            ), folded AS (
                INSERT INTO claims_partnerclaimcount (partner_id, status, count)
                SELECT partner_id, status, sum(delta) FROM moved GROUP BY partner_id, status
                ON CONFLICT (partner_id, status) DO UPDATE SET count = claims_partnerclaimcount.count + EXCLUDED.count
            )
            SELECT count(*) FROM moved
            """
        )
        return cursor.fetchone()[0]
