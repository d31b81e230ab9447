"""The Customer associations list (SPEC §4): search, status filter, sorts, pages and the CSV export."""

from django.shortcuts import render
from django.template import engines
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from associations.access import partner_required
from associations.wording import words_list
from claims import exports as claims_exports
from claims import selectors
from claims.due import NEEDS_ACTION, claim_due, due_display
from claims.models import ClaimItem, ClaimStatus, SolutionArea
from claims.policy import ClaimRules, Viewer
from claims.templatetags.claims_text import gap

CLAIMS_PER_PAGE = 25
# What a row of the list shows (the tenant's country gives the time zone of the deadline).
LIST_COLUMNS = [
    "partner",  # whose claim it is: the rule book's first question (claims.policy)
    "name",
    "domain",
    "customer_name",
    "tenant__name",
    "solution_area",
    "activities",
    "status",
    "submitted_at",
    "opt_out_deadline",
    "tenant__country",
    # What is due (claims.due), computed from the row: no query per row.
    "status_changed_at",
    "disputed_at",
    "response_deadline",
    "draft_saved_at",
]


@require_safe
@partner_required
def claim_list(request):
    search = request.GET.get("q", "").strip()[:200]
    status = request.GET.get("status", "")
    status = status if status in ClaimStatus.values or status == NEEDS_ACTION else ""
    sort = request.GET.get("sort", selectors.CLAIM_DEFAULT_SORT)
    if sort.lstrip("-") not in selectors.CLAIM_SORTS:
        sort = selectors.CLAIM_DEFAULT_SORT
    # close=1: the close matches of a search whose words matched nothing (a typo), as its first page showed them.
    close = bool(search and request.GET.get("close")) and selectors.search_may_be_fuzzy(search)

    def listed(fuzzy):
        return selectors.claim_list(partner=request.partner, search=search, status=status, sort=sort, fuzzy=fuzzy)

    claims = listed(close)
    if request.GET.get("format") == "csv":
        return claims_exports.claims_csv(claims)

    # Kept on the request: the navigation's "Needs your action" count reads it (claims.context_processors).
    counts = request.claim_status_counts = selectors.claim_status_counts(partner=request.partner)
    total = sum(counts.values())
    needs_action = sum(counts.get(value, 0) for value in ClaimStatus.needs_action())
    # Without a search the counters give the page count; a search pages by "previous / next" (no COUNT).
    known = None if search else (needs_action if status == NEEDS_ACTION else counts.get(status, 0) if status else total)
    # The page reads only the columns it shows, and its products as plain values (_list_rows).
    page = selectors.claim_page(_shown(claims), number=request.GET.get("page"), per_page=CLAIMS_PER_PAGE, count=known)
    if search and not close and page.number == 1 and not page.object_list and selectors.search_may_be_fuzzy(search):
        # No claim holds the words: the claims within a letter or so of them, said as such on the page.
        claims = listed(True)
        page = selectors.claim_page(_shown(claims), number=1, per_page=CLAIMS_PER_PAGE)
        close = bool(page.object_list)
    found, more = (page.found, page.more) if search else (None, False)
    # The rule book's viewer (claims.policy): who acts on the rows' claims, or only views them.
    viewer = Viewer.of(request.user)
    rows = _list_rows(page.object_list, viewer)
    query = request.GET.copy()
    query.pop("page", None)
    if close:
        query["close"] = "1"
    context = {
        "page": page,
        "rows": rows,
        "table": _table(rows, _sort_links(request, sort)) if rows else "",
        "search": search,
        "status": status,
        "sort": sort,
        "close": close,
        "found": found,
        "found_more": more,
        "total": total,
        "needs_action_total": needs_action,
        "status_counts": [(value, label, counts.get(value, 0)) for value, label in ClaimStatus.choices],
        "status_label": dict(ClaimStatus.choices).get(status, ""),
        "query": query.urlencode(),
        "sort_choices": _sort_choices(),
        "csv_query": _with(request, format="csv", page=None, close="1" if close else None),
        "can_manage": viewer.acts,
        "needs_action_selected": status == NEEDS_ACTION,
    }
    return render(request, "claims/claim_list.html", context)


def _shown(claims):
    return claims.only(*LIST_COLUMNS).prefetch_related(None)


def _list_rows(claims, viewer):
    """[(claim, cells)] for the list's rows, every cell ready to print.

    Measured at 200,000 claims: 25 rows of ``date`` filters, ``{% timezone %}`` blocks and ``{% url %}`` took
    longer to render than the page's SQL, and prefetching items as model instances longer than their query. The
    products are one query of plain values; the cells are formatted here, as the template's filters did.
    """
    products = {}
    items = ClaimItem.objects.filter(claim__in=claims).order_by("product__sort_order", "product__name")
    for claim_id, name in items.values_list("claim_id", "product__name"):
        names = products.setdefault(claim_id, [])
        if name not in names:
            names.append(name)
    rows = []
    now, zone = timezone.now(), timezone.get_current_timezone()
    # Once per page, not per row (issue 19: Django's get_FOO_display rebuilds its choices' dict and translates the
    # lazy label on every call; reverse() walks the URLconf): the labels in the page's language, by value, and the
    # claim page's address with the id put in.
    labels = _PageLabels()
    detail, edit, delete = (_address(name) for name in ("claims:detail", "claims:draft_edit", "claims:draft_delete"))
    for claim in claims:
        cells = {
            "url": detail.format(claim.pk),
            "number": claim.number,
            # The tenant's display name; a revenue association's customer name for a claim with no tenant yet.
            "customer": claim.tenant.name if claim.tenant_id else claim.customer_name,
            "solution_area": labels.solution_area(claim),
            "activities": labels.activities(claim),
            "products": words_list(products.get(claim.pk, [])),
            "status": labels.status(claim),
            **claims_exports.list_dates(claim),
            "due": due_display(claim_due(claim, now=now), acts=viewer.acts, zone=zone),
        }
        cells.update(_draft_cells(claim, ClaimRules(claim, viewer, now=now), edit=edit, delete=delete))
        rows.append((claim, cells))
    return rows


# A claim id no claim has, for the address of a claim's page with "{}" in its place.
_ID_MARK = 987654321987


def _address(name):
    """The address of the claim page ``name`` with "{}" for the claim's id: one reverse() for the page."""
    return reverse(name, args=[_ID_MARK]).replace(str(_ID_MARK), "{}")


class _PageLabels:
    """A row's status, solution area and activities as the model's displays say them, each value translated once
    per page (the same text: the same choices, the same language)."""

    def __init__(self):
        self._seen = {}

    def _label(self, key, make):
        if key not in self._seen:
            self._seen[key] = make()
        return self._seen[key]

    # The labels by value, read from the choices (get_FOO_display hashes every label of the field: each one translated).
    _STATUSES = dict(ClaimStatus.choices)
    _SOLUTION_AREAS = dict(SolutionArea.choices)

    def status(self, claim):
        return self._label(("status", claim.status), lambda: str(self._STATUSES.get(claim.status, claim.status)))

    def solution_area(self, claim):
        area = claim.solution_area
        return self._label(("solution_area", area), lambda: str(self._SOLUTION_AREAS.get(area, area)))

    def activities(self, claim):
        return self._label(("activities", *claim.activities), claim.get_activities_display)


def _draft_cells(claim, rules, *, edit, delete):
    """A draft's Continue editing and Delete draft, where the rule book allows them (a draft's row has no submitted
    date: ``list_dates``), with the links' names for a screen reader; {} for every other row. ``edit`` and ``delete``:
    the pages' addresses with "{}" for the id (``_address``)."""
    cells = {}
    if rules.continue_editing:
        cells["url"] = edit.format(claim.pk)
    if rules.delete_draft:
        cells["delete_url"] = delete.format(claim.pk)
    if cells:
        name = claim.name or gettext("Untitled draft")
        cells["draft_actions"] = True
        cells["continue_label"] = gettext("Continue editing %(name)s") % {"name": name}
        cells["delete_label"] = gettext("Delete draft %(name)s") % {"name": name}
    return cells


def _table(rows, sort_links):
    """The list's table, its header row and its rows, rendered by Jinja2 (templates/jinja2/claims/claim_table.jinja):
    in Django's template language its 25 rows took longer than the page's SQL (issue 19). The words are translated
    here, once for the page."""
    words = {
        "name": gettext("Claim name"),
        "customer": gettext("Customer"),
        "domain": gettext("Customer domain"),
        "solution_area": gettext("Solution area"),
        "activity": gettext("Activity"),
        "products": gettext("Products"),
        "status": gettext("Status"),
        "submitted": pgettext("column: date of submission", "Submitted"),
        "submitted_cell": gettext("Submitted"),
        "opt_out_deadline": gettext("Opt-out deadline"),
        "due": pgettext("column: what the claim waits for, by when", "Due"),
        "due_on": pgettext("deadline", "Due"),
        "untitled": gettext("Untitled draft"),
        "continue_editing": gettext("Continue editing"),
        "delete_draft": gettext("Delete draft"),
        # The space before a column's second line: none in Chinese.
        "gap": gap(),
    }
    template = engines["fragments"].get_template("claims/claim_table.jinja")
    # Jinja2 escaped every value (autoescape): the HTML goes into the page as it is.
    return mark_safe(template.render({"rows": rows, "words": words, "sort_links": sort_links}))  # noqa: S308


def _with(request, **changes):
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


# The sortable columns' names, for the sort control of phones (the table's header row is hidden there).
SORT_COLUMNS = {
    "submitted": pgettext_lazy("column: date of submission", "Submitted"),
    "due": pgettext_lazy("column: what the claim waits for, by when", "Due"),
    "name": _("Claim name"),
    "domain": _("Customer domain"),
    "solution_area": _("Solution area"),
    "status": _("Status"),
    "opt_out_deadline": _("Opt-out deadline"),
}


def _sort_choices():
    """[(sort, label)] for the sort control: each column, ascending then descending."""
    choices = []
    for column, label in SORT_COLUMNS.items():
        choices.append((column, pgettext("sort order", "%(column)s, ascending") % {"column": label}))
        choices.append((f"-{column}", pgettext("sort order", "%(column)s, descending") % {"column": label}))
    return choices


def _sort_links(request, current):
    """For each sortable column: the query string that sorts by it (toggling direction), and its state."""
    links = {}
    for column in selectors.CLAIM_SORTS:
        if current == column:
            links[column] = {"query": _with(request, sort=f"-{column}", page=None), "state": "ascending"}
        elif current == f"-{column}":
            links[column] = {"query": _with(request, sort=column, page=None), "state": "descending"}
        else:
            links[column] = {"query": _with(request, sort=column, page=None), "state": ""}
    return links
