"""Read-only queries: the availability of products on a tenant, usage data, a claim's notice and POE room; the
Customer associations list's (search, sorts, counts, pages) are in ``claim_lists``, re-exported here."""

import dataclasses
import datetime

from django.db.models import BooleanField, Count, OuterRef, Subquery, Sum, Value
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from associations.models import Association, SolutionArea, Subscription, TenantLicense, UsageRecord
from claims.models import (
    Claim,
    ClaimItem,
    ClaimStatus,
    EmailNotification,
    InformationReason,
    PoeDocument,
    item_key,
    programs_for,
)
from claims.policy import current_request
from claims.selectors.claim_lists import (  # noqa: F401 (the list's queries, re-exported)
    CLAIM_DEFAULT_SORT,
    CLAIM_SORTS,
    SEARCH_COUNT_MAX,
    SearchPage,
    claim_list,
    claim_page,
    claim_search_filter,
    claim_sort_ordering,
    claim_status_count_mismatches,
    claim_status_counts,
    search_claim_number,
    search_directory_id,
    search_may_be_fuzzy,
)
from claims.uploads import PoeRoom


def claims_for_reviewers(queryset=None):
    """What a reviewer may see in admin (SPEC §8, §12): claims that were submitted, never a draft nor one that expired
    as a draft (the partner's unfinished work), and the rows of those claims only.

    ``queryset``: of Claim (by default all claims), or of a model with a ``claim`` foreign key (ClaimEvent,
    PoeDocument, ClaimItem, EmailNotification...), whose rows are kept when their claim is. Every admin queryset
    that shows claims or their parts reads through here: the lists, their filters and counts, the change and
    history pages, the decision pages and the POE downloads.
    """
    if queryset is None:
        queryset = Claim.objects.all()
    hidden = ClaimStatus.never_submitted()
    if queryset.model is Claim:
        return queryset.exclude(status__in=hidden)
    field = queryset.model._meta.get_field("claim")
    if field.related_model is not Claim:
        raise TypeError(f"{queryset.model.__name__}.claim is not a claim")
    return queryset.exclude(claim__status__in=hidden)


def claim_poe_room(claim):
    """How much of its POE quota ``claim`` can still take (``claims.uploads.PoeRoom``): one aggregate query."""
    held = PoeDocument.objects.filter(claim_id=claim.pk).aggregate(files=Count("pk"), size=Sum("size"))
    return PoeRoom.left(files=held["files"], size=held["size"] or 0)


def claim_products(claim):
    """The distinct product names of a claim whose items were prefetched, in catalog order."""
    products = {item.product.name: item.product.sort_order for item in claim.items.all()}
    return sorted(products, key=lambda name: (products[name], name))


@dataclasses.dataclass(frozen=True)
class NoticeDelivery:
    """Where the claim's customer's notice stands (claims.services.notices), for the partner's and the reviewer's
    claim pages: ``state`` is ``sending`` (on its way, maybe waiting to retry), ``delivered`` (``at``: when the mail
    server accepted it) or ``failed`` (``detail``: the mail server's words); ``note``: a copy to the technical
    contact that was refused or bounced, in the server's words."""

    state: str
    at: datetime.datetime | None
    detail: str
    note: str
    attempts: int

    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


def notice_delivery(claim):
    """The NoticeDelivery of the claim's current notice (its latest customer_notified email), or None before
    approval. One query."""
    row = (
        EmailNotification.objects.filter(claim_id=claim.pk, kind=EmailNotification.Kind.CUSTOMER_NOTIFIED)
        .order_by("-pk")
        .values("state", "sent_at", "last_error", "attempts")
        .first()
    )
    if row is None:
        return None
    state = {
        EmailNotification.State.SENT: NoticeDelivery.DELIVERED,
        EmailNotification.State.FAILED: NoticeDelivery.FAILED,
    }.get(row["state"], NoticeDelivery.SENDING)
    failed = state == NoticeDelivery.FAILED
    return NoticeDelivery(
        state=state,
        at=row["sent_at"] if state == NoticeDelivery.DELIVERED else None,
        detail=row["last_error"] if failed else "",
        note=row["last_error"] if state == NoticeDelivery.DELIVERED else "",
        attempts=row["attempts"],
    )


# The statuses whose claims have a customer's notice to show (SPEC §5: from approval on); an action_required claim
# has one when its request is the system's, after an undeliverable notice.
NOTICE_STATUSES = frozenset(
    {ClaimStatus.CUSTOMER_NOTIFIED, ClaimStatus.OFFICIAL, ClaimStatus.OPTED_OUT, ClaimStatus.ENDED}
)


def request_current_in(claim, events):
    """The claim's current information request among its ``events`` (newest first), as
    ``claims.emails.request_event_current`` reads it, without a query: the latest move to ``action_required``
    while the claim is there."""
    return current_request(claim, events)


def notice_delivery_for_page(claim, events):
    """The claim page's NoticeDelivery, for the claims that have a notice (one query), else None (no query)."""
    request = request_current_in(claim, events)
    undeliverable = request is not None and request.reason == InformationReason.NOTICE_UNDELIVERABLE
    return notice_delivery(claim) if claim.status in NOTICE_STATUSES or undeliverable else None


class Availability:
    FREE = "free"
    YOURS = "yours"
    YOURS_PENDING = "yours_pending"
    HELD = "held"
    PENDING = "pending"
    NOT_ON_TENANT = "not_on_tenant"

    LABELS = {
        # Nobody holds or claims it: the partner may claim it ("Free" read as "no charge").
        FREE: _("Available to claim"),
        YOURS: _("Already yours"),
        YOURS_PENDING: _("Pending in your claim"),
        HELD: _("Held by another partner"),
        PENDING: pgettext_lazy("product availability: in another partner's open claim", "Pending"),
        NOT_ON_TENANT: _("Not on this customer's tenant"),
    }
    # When a product covers several item keys, the most telling one describes it.
    RANK = [YOURS, YOURS_PENDING, HELD, PENDING, FREE]
    # The partner's own: picking them again would only get the new claim rejected automatically (SPEC §13).
    OWN = (YOURS, YOURS_PENDING)

    @classmethod
    def label(cls, status, claim=None):
        """The label of ``status``; ``claim`` (id, name) names the partner's own pending claim."""
        if status == cls.YOURS_PENDING and claim:
            return gettext("Pending in your claim “%(claim)s”") % {"claim": claim[1]}
        return str(cls.LABELS[status])


def tenant_products(*, tenant, solution_area, products):
    """What the tenant holds of these products: ({product_id: [active subscriptions]}, {licensed product ids}).

    Microsoft 365 workloads are held through licences, Business Applications products through active
    subscriptions (SPEC §3). One query either way.
    """
    if solution_area == SolutionArea.MICROSOFT_365:
        licensed = set(
            TenantLicense.objects.filter(tenant=tenant, product__in=products).values_list("product_id", flat=True)
        )
        return {}, licensed
    subscriptions = {}
    for subscription in (
        Subscription.objects.active()
        .filter(tenant=tenant, product__in=products)
        .order_by("start_date", "subscription_id")
    ):
        subscriptions.setdefault(subscription.product_id, []).append(subscription)
    return subscriptions, set(subscriptions)


def product_availability(*, partner, tenant, solution_area, activities, products, subscriptions):
    """For each product, and each subscription, whether it is available to claim, already yours, held or pending.

    ``subscriptions`` is {product_id: [subscriptions]} from ``tenant_products``. Never says which other partner
    holds or claims an item; for the partner's own items it names the claim (to link to it). One query: active
    associations and items of open claims on this tenant, as a union.
    Returns ({product_id: status}, {subscription_id: status}, {product_id or ("subscription", id): (claim id,
    claim name)}) -- the last only for the partner's own items, and only when a claim is known (an imported
    association has none).
    """
    m365 = solution_area == SolutionArea.MICROSOFT_365
    programs = programs_for(solution_area, activities)
    product_ids = [product.pk for product in products]

    def key(program, product_id, subscription_id):
        return item_key(program, tenant.pk, product_id, subscription_id)

    flag = BooleanField()
    # The claim that made an association, for the partner's own link; another partner's is read but never shown.
    making = ClaimItem.objects.filter(association=OuterRef("pk")).order_by()
    associations = (
        Association.objects.active()
        .filter(tenant=tenant, program__in=programs, product_id__in=product_ids)
        .values_list(
            "program",
            "product_id",
            "subscription_id",
            "partner_id",
            Value(True, output_field=flag),
            Subquery(making.values("claim_id")[:1]),
            Subquery(making.values("claim__name")[:1]),
        )
        .order_by()
    )
    claimed = (
        ClaimItem.objects.going_on()
        .filter(tenant=tenant, program__in=programs, product_id__in=product_ids, claim__status__in=ClaimStatus.open())
        .values_list(
            "program",
            "product_id",
            "subscription_id",
            "claim__partner_id",
            Value(False, output_field=flag),
            "claim_id",
            "claim__name",
        )
        .order_by()
    )
    found_status, found_claim = {}, {}
    for program, product_id, subscription_id, partner_id, is_association, claim_id, claim_name in associations.union(
        claimed, all=True
    ).order_by():
        found = key(program, product_id, subscription_id)
        own = partner_id == partner.pk
        if is_association:
            status = Availability.YOURS if own else Availability.HELD
        else:
            status = Availability.YOURS_PENDING if own else Availability.PENDING
        if Availability.RANK.index(status) < Availability.RANK.index(found_status.get(found, Availability.FREE)):
            found_status[found] = status
            found_claim[found] = (claim_id, claim_name) if own and claim_id else None

    def status_of(keys):
        best = min((found_status.get(k, Availability.FREE) for k in keys), key=Availability.RANK.index)
        claim = next((found_claim[k] for k in keys if found_status.get(k) == best and found_claim.get(k)), None)
        return best, claim

    by_subscription, by_product, claims = {}, {}, {}
    for product in products:
        if m365:
            by_product[product.pk], claim = status_of([key(program, product.pk, None) for program in programs])
            if claim:
                claims[product.pk] = claim
            continue
        found = []
        for subscription in subscriptions.get(product.pk, []):
            status, claim = status_of([key(program, None, subscription.pk) for program in programs])
            by_subscription[subscription.pk] = status
            if claim:
                claims["subscription", subscription.pk] = claim
            found.append((status, claim))
        if not found:
            continue
        # A product with one subscription that is not yet the partner's own stays pickable (the subscription choice
        # then refuses the own ones); it says so only when every subscription is the partner's own.
        others = [f for f in found if f[0] not in Availability.OWN]
        status, claim = min(others or found, key=lambda f: Availability.RANK.index(f[0]))
        by_product[product.pk] = status
        if claim:
            claims[product.pk] = claim
    return by_product, by_subscription, claims


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
