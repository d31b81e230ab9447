"""Automatic validation (SPEC §5) of submitted claims, in batches: every rule against the data as it is now."""

import datetime
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Prefetch, Subquery
from django.utils import timezone

from associations.models import Association, Program, SolutionArea, Tenant, TenantDomain, TenantLicense
from associations.validators import email_domain_within, normalize_domain
from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, RejectionReason, item_key, item_keys_q
from claims.policy import needs_technical_contact
from claims.reasons import WHO_CUSTOMER, WHO_PARTNER, WHO_TECHNICAL, english, reason_text
from claims.services.jobs import task_send, task_send_on_commit
from claims.services.transitions import claims_transition
from claims.storage import poe_opener
from claims.uploads import HEAD_BYTES, POE_RULES, POE_TYPES, detect_poe_type

# Validation ---------------------------------------------------------------------------------------------------

# How many submitted claims one validation run takes at once: a backlog drains in a few runs, and a batch's
# locks and memory stay small.
VALIDATION_BATCH_SIZE = 200
# POE objects read at once while validating a batch: the reads are waits on the storage (botocore's default
# pool keeps 10 connections).
POE_READ_THREADS = 10


def _poe_content_types(documents):
    """{PoeDocument pk: its type judged by content (the sniffer of ``claims.uploads``), or None}.

    A row with ``content_checked`` carries the sniffer's verdict on its object's bytes (taken at upload; the object
    is never overwritten): that type is used as it is, with no I/O. Any other row (written elsewhere than the
    wizard or the partner's answer) is sniffed again from the storage, ranged and in parallel. A file that is gone
    counts as not allowed; a storage that does not answer raises (the claim stays submitted and is validated
    again later). Files over the size limit are not read: their size is their reason.
    """
    documents = [d for d in documents if d.size <= POE_RULES.max_bytes]
    types = {d.pk: d.content_type for d in documents if d.content_checked}
    documents = [d for d in documents if not d.content_checked]
    if not documents:
        return types
    open_file, remote = poe_opener()

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
    domains: set  # (tenant_id, domain name) of every domain of the batch's tenants
    tenant_domains: dict  # tenant_id -> [domain name, ...]
    licences: set  # (tenant_id, product_id)
    held: dict  # item key -> [partner_id of an active association, ...]
    pending: dict  # item key -> [(partner_id, item_id, claim_id) of an open claim's item, ...]
    poe_types: dict  # PoeDocument pk -> type by content, or None


def _validation_facts(claims):
    """Read everything the rules need for ``claims`` (items and documents prefetched) in a fixed number of queries,
    whatever the batch size: tenants, their domains, licences, active associations and open claims' items
    for every item key of the batch (superset filters; the rules match exact keys), and the POE types."""
    directory_ids = {c.directory_id for c in claims}
    tenants = {t.directory_id: t for t in Tenant.objects.filter(directory_id__in=directory_ids)}
    # Every domain of these tenants, not only the claims' own: the contacts' addresses must be at one of them.
    # A tenant has a handful.
    domains = set(TenantDomain.objects.filter(tenant__directory_id__in=directory_ids).values_list("tenant_id", "name"))
    tenant_domains = {}
    for tenant_id, name in sorted(domains):
        tenant_domains.setdefault(tenant_id, []).append(name)
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
        keys_q = item_keys_q(items, tenant_of)
        for program, t_id, product_id, sub_id, partner_id in (
            Association.objects.active()
            .filter(keys_q)
            .values_list("program", "tenant_id", "product_id", "subscription_id", "partner_id")
        ):
            held.setdefault(item_key(program, t_id, product_id, sub_id), []).append(partner_id)
        for program, t_id, product_id, sub_id, partner_id, item_id, claim_id in (
            ClaimItem.objects.going_on()
            .filter(keys_q, claim__status__in=ClaimStatus.open())
            .values_list("program", "tenant_id", "product_id", "subscription_id", "claim__partner_id", "pk", "claim_id")
        ):
            pending.setdefault(item_key(program, t_id, product_id, sub_id), []).append((partner_id, item_id, claim_id))
    poe_types = _poe_content_types([d for c in claims for d in c.documents.all()])
    return _ValidationFacts(tenants, domains, tenant_domains, licences, held, pending, poe_types)


def _claim_problems(claim, *, facts, closed, today):
    """Every rule of SPEC §5 against the data as it is now: (tenant, reasons, competing item ids, other items).

    ``closed`` are the claims of this batch already rejected: no longer pending for the claims after them, as if
    the batch had been validated one claim after the other, oldest first.
    """
    reasons = []
    location = claim.location
    if location.partner_id != claim.partner_id:
        reasons.append(reason_text("mpn_not_yours", mpn_id=location.mpn_id))
    elif not location.is_active:
        reasons.append(reason_text("mpn_inactive", mpn_id=location.mpn_id))

    tenant = facts.tenants.get(claim.directory_id)
    if tenant is None:
        reasons.append(reason_text("tenant_unknown", directory_id=claim.directory_id))
    elif (tenant.pk, normalize_domain(claim.domain)) not in facts.domains:
        reasons.append(reason_text("domain_not_tenant", domain=claim.domain))

    items = list(claim.items.all())  # prefetched with product and subscription
    if not items:
        reasons.append(reason_text("no_products"))

    tenant_id = tenant.pk if tenant else None
    for item in items:
        product = item.product
        if product.solution_area != claim.solution_area:
            reasons.append(
                reason_text(
                    "wrong_solution_area",
                    product=product.name,
                    solution_area=english(SolutionArea(claim.solution_area).label),
                )
            )
            continue
        if item.program == Program.OSU_M365:
            if tenant and (tenant.pk, item.product_id) not in facts.licences:
                reasons.append(reason_text("not_licensed", product=product.name))
            continue
        subscription = item.subscription
        if subscription is None:
            reasons.append(reason_text("needs_subscription", product=product.name))
        elif tenant and subscription.tenant_id != tenant.pk:
            reasons.append(reason_text("subscription_not_tenant", subscription_id=subscription.subscription_id))
        elif subscription.product_id != item.product_id:
            reasons.append(
                reason_text(
                    "subscription_wrong_product", subscription_id=subscription.subscription_id, product=product.name
                )
            )
        elif not subscription.is_active_on(today):
            reasons.append(reason_text("subscription_inactive", product=product.name))

    competing_ids, others = set(), set()
    if tenant and items:
        wanted = {item_key(i.program, i.tenant_id or tenant_id, i.product_id, i.subscription_id): i for i in items}
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
                reasons.append(reason_text("already_yours", product=item.product.name))
            elif item.pk in mine_pending:
                reasons.append(reason_text("already_claimed", product=item.product.name))

    reasons += _contact_problems(
        claim,
        needs_technical=needs_technical_contact(i.product for i in items),
        tenant_domains=facts.tenant_domains.get(tenant_id, []) if tenant else None,
    )
    reasons += _poe_problems(list(claim.documents.all()), facts.poe_types)
    return tenant, reasons, competing_ids, others


def _contact_problems(claim, *, needs_technical, tenant_domains):
    """The contacts complete and valid; the customer's contacts at the customer's domains (SPEC §5).

    The opt-out notice goes to the customer contact and, for Dynamics 365, to the technical contact too: both
    addresses must be at one of the tenant's domains or a subdomain of one, so the partner who benefits cannot
    send the customer's notice to an inbox of its own choosing. ``tenant_domains`` is None when the tenant is
    unknown (that is a reason of its own).
    """
    contacts = [
        (
            WHO_CUSTOMER,
            claim.customer_contact_name,
            claim.customer_contact_title,
            claim.customer_contact_email,
            True,
        ),
        (WHO_PARTNER, claim.partner_contact_name, None, claim.partner_contact_email, False),
    ]
    if needs_technical:
        contacts.insert(
            1,
            (
                WHO_TECHNICAL,
                claim.technical_contact_name,
                claim.technical_contact_title,
                claim.technical_contact_email,
                True,
            ),
        )
    reasons = []
    for who, name, title, email, at_customer in contacts:
        if not (name or "").strip():
            reasons.append(reason_text("name_missing", who=who))
        if title is not None and not (title or "").strip():
            reasons.append(reason_text("title_missing", who=who))
        if not (email or "").strip():
            reasons.append(reason_text("email_missing", who=who))
        else:
            try:
                validate_email(email)
            except ValidationError:
                reasons.append(reason_text("email_invalid", who=who, email=email))
            else:
                if at_customer and tenant_domains is not None and not email_domain_within(email, tenant_domains):
                    reasons.append(reason_text("email_not_customer", who=who, email=email, domain=claim.domain))
    return reasons


def _poe_problems(documents, poe_types):
    if not documents:
        return [reason_text("no_poe")]
    reasons = []
    if len(documents) > POE_RULES.max_files:
        reasons.append(reason_text("too_many_poe", max=POE_RULES.max_files, count=len(documents)))
    allowed = ", ".join(english(label) for label in POE_TYPES.values())
    for document in documents:
        if document.size > POE_RULES.max_bytes:
            reasons.append(reason_text("poe_too_large", name=document.original_name))
            continue
        if poe_types.get(document.pk) not in POE_TYPES:
            reasons.append(reason_text("poe_wrong_type", name=document.original_name, allowed=allowed))
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


def _claims_outcome_write(claims, *, now):
    """Each claim's own tenant, ``competing`` and rejection reasons, in one statement; and for a claim that
    challenges nobody (rejected, or not competing) ``challenges_checked_at``: nothing for the challenge notice to do
    (claims.services.challenges)."""
    # bulk_update's CASE expressions cost more to build than the whole validation; one UPDATE from arrays
    # does the same in a fraction of that.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE claims_claim AS claim
            SET tenant_id = v.tenant_id, competing = v.competing, rejection_reasons = v.reasons,
                challenges_checked_at = v.checked
            FROM (
                SELECT unnest(%s::bigint[]) AS id, unnest(%s::bigint[]) AS tenant_id,
                       unnest(%s::boolean[]) AS competing, unnest(%s::jsonb[]) AS reasons,
                       unnest(%s::timestamptz[]) AS checked
            ) AS v
            WHERE claim.id = v.id
            """,
            [
                [c.pk for c in claims],
                [c.tenant.pk if c.tenant else None for c in claims],
                [c.competing for c in claims],
                [json.dumps(c.rejection_reasons) for c in claims],
                [None if c.competing and not c.rejection_reasons else now for c in claims],
            ],
        )


def _claims_validate_locked(claim_ids, *, today, now):
    """Validate the submitted claims this transaction holds locked; returns ({id: new status}, other items, the
    claims that passed and compete).

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
        return {}, set(), []
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
    _claims_outcome_write(claims, now=now)
    passed = [c.pk for c in claims if not c.rejection_reasons]
    rejected = [c for c in claims if c.rejection_reasons]
    claims_transition(
        claim_ids=passed,
        old_status=ClaimStatus.SUBMITTED,
        to=ClaimStatus.UNDER_REVIEW,
        actor=ClaimEvent.Actor.SYSTEM,
        action=ClaimEvent.Action.VALIDATED,
        now=now,
    )
    claims_transition(
        claim_ids=[c.pk for c in rejected],
        old_status=ClaimStatus.SUBMITTED,
        to=ClaimStatus.REJECTED,
        actor=ClaimEvent.Actor.SYSTEM,
        action=ClaimEvent.Action.VALIDATION_FAILED,
        reason=RejectionReason.VALIDATION,
        messages={c.pk: "\n".join(c.rejection_reasons) for c in rejected},
        now=now,
    )
    if competing_items:
        _claim_items_flag_competing(competing_items)
    outcome = dict.fromkeys(passed, ClaimStatus.UNDER_REVIEW) | {c.pk: ClaimStatus.REJECTED for c in rejected}
    return outcome, others, [c.pk for c in claims if c.competing and not c.rejection_reasons]


def _claims_validate_run(take):
    """Lock a batch with ``take()`` (SKIP LOCKED queries returning ids), validate it, flag the competitors."""
    with transaction.atomic():
        claim_ids = take()
        if not claim_ids:
            return {}
        outcome, others, challengers = _claims_validate_locked(
            claim_ids, today=timezone.localdate(), now=timezone.now()
        )
        if challengers:
            # The challenge notice (SPEC §8): a claim that passed and competes tells the holders of its items, after
            # commit, in a task of its own (claims.services.challenges: once per challenge however often it runs).
            task_send_on_commit("claim_challenges_notify_task", claim_ids=challengers)
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
    now = now or timezone.now()
    ids = list(
        Claim.objects.filter(status=ClaimStatus.SUBMITTED, submitted_at__lt=now - older_than)
        .order_by("submitted_at")
        .values_list("pk", flat=True)[:limit]
    )
    for claim_id in ids[::VALIDATION_BATCH_SIZE]:
        task_send("claim_validate_task", claim_id=claim_id)
    return len(ids)
