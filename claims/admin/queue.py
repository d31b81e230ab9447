"""The review queue (SPEC §8): the claim list opens on the claims waiting for a reviewer, by review due date, with
due today and overdue shown and counted and the reviewer's numbers above it (``claims.selectors.review``).

The list's columns are annotations of its one query (items, their products), never a query per row; the search is
the partner list's (``claims.selectors.claim_search_filter``: claim number, name, customer, domain, Directory ID,
MPN ID, product). Its pages are the partner list's too (``claims.selectors.claim_lists``): the queue, every claim or
a status counted from the per-partner counters instead of COUNT(*), a deep page read from the other end of the
order or by ids from the index (``claim_due``, ``claim_review_due``), not by skipping 100,000 rows.
"""

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.db.models import Count, F, OuterRef, StringAgg, Subquery, Value
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from claims.models import ClaimItem, ClaimStatus
from claims.selectors import claim_search_filter
from claims.selectors.claim_lists import CountedPaginator
from claims.selectors.review import review_day_end, review_due_state, review_numbers, review_status_counts
from claims.windows import REVIEW_STATUSES

# The queue's order: what is due first, nothing due last; ``id`` makes it total (the index claim_review_due).
QUEUE_ORDERING = [F("due_at").asc(nulls_last=True), "id"]


class QueueFilter(admin.SimpleListFilter):
    """Which claims the list shows: by default the queue (waiting for a reviewer), or only those due today or
    overdue, or every claim. A search or a status filter looks at every claim unless a queue is picked."""

    title = _("review queue")
    parameter_name = "queue"
    WAITING = "waiting"
    ALL = "all"

    def __init__(self, request, params, model, model_admin):
        # A list action (POST) acts on the claims selected, whichever list they were picked from.
        self.searching = (
            bool(request.GET.get("q", "").strip()) or "status__exact" in request.GET or request.method == "POST"
        )
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [
            (self.WAITING, _("Waiting for review")),
            ("today", pgettext_lazy("review queue", "Due today")),
            ("overdue", pgettext_lazy("review queue", "Overdue")),
            (self.ALL, _("All claims")),
        ]

    def value(self):
        return super().value() or (self.ALL if self.searching else self.WAITING)

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.ALL:
            return queryset
        queryset = queryset.filter(status__in=REVIEW_STATUSES)
        now = timezone.now()
        if value == "overdue":
            return queryset.filter(due_at__lt=now)
        if value == "today":
            return queryset.filter(due_at__gte=now, due_at__lt=review_day_end(now, timezone.get_current_timezone()))
        return queryset


# The list's parameters whose claims the counters count: which queue, a status, the sort and the page.
COUNTED_PARAMETERS = {QueueFilter.parameter_name, "status__exact", "o", "p"}


def queue_count(params, counts):
    """How many claims the list shows for these query parameters, from ``counts`` ({status: count} of every claim,
    the counters'): the queue, every claim, or a status of either; None for anything else (a search, another
    filter, due today or overdue), which the list counts itself."""
    if not set(params) <= COUNTED_PARAMETERS:
        return None
    status = params.get("status__exact")
    queue = params.get(QueueFilter.parameter_name) or (QueueFilter.ALL if status is not None else QueueFilter.WAITING)
    if queue == QueueFilter.ALL:
        statuses = set(ClaimStatus.values) - {str(s) for s in ClaimStatus.never_submitted()}
    elif queue == QueueFilter.WAITING:
        statuses = {str(s) for s in REVIEW_STATUSES}
    else:
        return None
    if status is not None:
        if status not in ClaimStatus.values:
            return None  # the list refuses it (?e=1)
        statuses &= {status}
    return sum(counts.get(s, 0) for s in statuses)


class CompetingFilter(admin.SimpleListFilter):
    title = _("competing")
    parameter_name = "competing"

    def lookups(self, request, model_admin):
        return [("1", _("Competing")), ("0", _("Not competing"))]

    def queryset(self, request, queryset):
        if self.value() in ("0", "1"):
            return queryset.filter(competing=self.value() == "1")
        return queryset


class SolutionAreaFilter(admin.ChoicesFieldListFilter):
    title = _("solution area")


def items_summary():
    """The claim's items as "3 · Exchange Online, Microsoft Teams, …": two subqueries of the list's one query."""
    items = ClaimItem.objects.filter(claim=OuterRef("pk")).order_by().values("claim")
    return {
        "items_count": Subquery(items.annotate(n=Count("pk")).values("n")),
        "items_products": Subquery(
            items.annotate(
                names=StringAgg("product__name", delimiter=Value(", "), distinct=True, order_by="product__name")
            ).values("names")
        ),
    }


# The queue's columns it may be sorted by (issue 19): the orders an index serves at any size (claim_due: due_at, id;
# the primary key). Sorting 200,000 claims by a name, a partner, a status or the competing flag read every claim
# (8x to 29x the reviewer's floor); the search and the filters find those instead.
QUEUE_SORTABLE = ["number_display", "review_due_display"]


class QueueChangeList(ChangeList):
    """The queue's list: its page's claims with their items' summary (``items_summary``), which only the list shows,
    sorted only as an index reads them (QUEUE_SORTABLE)."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).annotate(**items_summary())

    def get_ordering_field(self, field_name):
        # A column outside QUEUE_SORTABLE has no header link, and an address asking for it keeps the queue's order.
        return super().get_ordering_field(field_name) if field_name in QUEUE_SORTABLE else None

    def get_ordering(self, request, queryset):
        ordering = super().get_ordering(request, queryset)
        # Review due, latest first: the claim_due index read backwards (due_at, then id, both descending), not the
        # queue's own order appended after it (id ascending), which no index serves.
        if ordering and ordering[0] == "-due_at":
            return ["-due_at", "-id"]
        return ordering


class ReviewQueueMixin:
    """For ClaimAdmin: the queue's columns, filters, order, search and numbers."""

    list_display = [
        "number_display",
        "name",
        "partner",
        "customer_display",
        "items_display",
        "status_display",
        "competing_display",
        "review_due_display",
    ]
    list_display_links = ["number_display", "name"]
    sortable_by = QUEUE_SORTABLE
    list_per_page = 25
    list_select_related = ["partner", "tenant"]
    search_fields = ["name"]  # the search itself: get_search_results
    search_help_text = _("Claim number, name, customer, domain, Directory ID, MPN ID or product.")
    # Also as the attribute, which Django's list reads to mark its sorted columns (Review due, then Claim number): the
    # model's own order would mark Claim number, descending, over a list that is not.
    ordering = QUEUE_ORDERING

    def get_ordering(self, request):
        return QUEUE_ORDERING

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    def action_checkbox(self, claim):
        # Django's own markup, without rendering a CheckboxInput's template for every row (a third of the list's
        # time).
        label = format_html(gettext("Select this object for an action - {}"), str(claim))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            claim.pk,
            label,
        )

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        # The counters as the reviewer's numbers read them, in the same statement (changelist_view).
        counts = getattr(request, "review_status_counts", None)
        count = queue_count(request.GET, review_status_counts() if counts is None else counts)
        return CountedPaginator(queryset, per_page, count=queryset.count() if count is None else count)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        # Planned as the partner list plans it (claims.selectors.search_plan): the same matches, read at about the
        # same cost at 2,000,000 claims as at 200,000.
        return queryset.filter(claim_search_filter(search_term, planned=True)), False

    def changelist_view(self, request, extra_context=None):
        now = timezone.now()
        numbers = review_numbers(now=now, zone=timezone.get_current_timezone())
        request.review_status_counts = numbers.status_counts
        extra_context = {"title": gettext("Review queue"), **(extra_context or {}), "review_numbers": numbers}
        return super().changelist_view(request, extra_context)

    @admin.display(description=pgettext_lazy("column", "Claim number"), ordering="id")
    def number_display(self, claim):
        return claim.number

    @admin.display(description=pgettext_lazy("column", "Customer"))
    def customer_display(self, claim):
        return (claim.tenant.name if claim.tenant_id else "") or claim.customer_name or claim.domain

    @admin.display(description=pgettext_lazy("column", "Products"))
    def items_display(self, claim):
        count = getattr(claim, "items_count", None) or 0
        return format_html('<span class="queue-count">{}</span> {}', count, getattr(claim, "items_products", "") or "")

    @admin.display(description=pgettext_lazy("column", "Status"), ordering="status")
    def status_display(self, claim):
        # The label of the status's enum member (get_status_display builds the field's choices dict on every row).
        return format_html('<span class="status status-{}">{}</span>', claim.status, ClaimStatus(claim.status).label)

    @admin.display(description=pgettext_lazy("column", "Competing"), ordering="competing")
    def competing_display(self, claim):
        return gettext("Competing") if claim.competing else "—"

    @admin.display(description=pgettext_lazy("column", "Review due"), ordering="due_at")
    def review_due_display(self, claim):
        if claim.status not in REVIEW_STATUSES or claim.due_at is None:
            return "—"
        state = review_due_state(claim.due_at, now=timezone.now(), zone=timezone.get_current_timezone())
        local = timezone.localtime(claim.due_at)
        # The date and the time each whole on a narrow column (never "2026-12-" above "05"), the words beneath.
        when = format_html(
            '<span class="nowrap">{}</span> <span class="nowrap">{}</span>', f"{local:%Y-%m-%d}", f"{local:%H:%M}"
        )
        words = {
            "overdue": pgettext("deadline", "overdue"),
            "today": pgettext("deadline", "due today"),
        }.get(state, "")
        if not words:
            return when
        return format_html('{} <strong class="due-{}">{}</strong>', when, state, words)
