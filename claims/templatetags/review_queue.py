"""``{% review_queue_results cl %}``: Django admin's ``{% result_list cl %}`` for the review queue (SPEC §8, §11),
its rows written as Django admin's ``items_for_result`` writes them, cell for cell, without its per-cell machinery
(each column looked up by name, its field, its display and empty value, the claim's URL reversed twice a row):
Django's took 0.4 ms a row, more than the rest of the queue's page together. In Django's template
(``admin/change_list_results.html``).

A list whose columns are not the queue's (or one with editable columns, a popup, a ``to_field``) gets Django's own
rows. The tests compare both, cell for cell.
"""

from django import template
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.core.validators import EMPTY_VALUES
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

# The link columns: the first a <th>, the next a <td> (Django's list_display_links).
LINKED = {"number_display": "th", "name": "td"}
# The other columns and their cells' classes ("nowrap" for a foreign key's, as Django's).
PLAIN = {
    "partner": "field-partner nowrap",
    "customer_display": "field-customer_display",
    "items_display": "field-items_display",
    "status_display": "field-status_display",
    "competing_display": "field-competing_display",
    "review_due_display": "field-review_due_display",
}
QUEUE_COLUMNS = ["action_checkbox", *LINKED, *PLAIN]


def _shown(value, empty):
    """What Django's display_for_value shows of a column's value: text stripped, nothing as the empty display."""
    if isinstance(value, str) and not isinstance(value, SafeString):
        value = value.strip()
    return empty if value in EMPTY_VALUES else value


def queue_results(cl):
    """The rows of ``cl`` (a ChangeList of ClaimAdmin), each the list of its cells' HTML."""
    if list(cl.list_display) != QUEUE_COLUMNS or list(cl.list_display_links) != list(LINKED):
        return list(admin_list.results(cl))
    if cl.formset or cl.is_popup or cl.to_field:
        return list(admin_list.results(cl))
    admin = cl.model_admin
    empty = admin.get_empty_value_display()
    base = reverse("admin:claims_claim_changelist", current_app=admin.admin_site.name)
    # The preserved filters are the same query on every row's link: worked out once.
    sample = f"{base}0/change/"
    query = add_preserved_filters({"preserved_filters": cl.preserved_filters, "opts": cl.opts}, sample)[len(sample) :]
    rows = []
    for claim in cl.result_list:
        url = f"{base}{claim.pk}/change/{query}"
        cells = [format_html('<td class="action-checkbox">{}</td>', admin.action_checkbox(claim))]
        linked = {"number_display": admin.number_display(claim), "name": claim.name}
        for column, tag in LINKED.items():
            shown = _shown(linked[column], empty)
            cells.append(format_html('<{} class="field-{}"><a href="{}">{}</a></{}>', tag, column, url, shown, tag))
        values = {
            "partner": claim.partner,
            "customer_display": admin.customer_display(claim),
            "items_display": admin.items_display(claim),
            "status_display": admin.status_display(claim),
            "competing_display": admin.competing_display(claim),
            "review_due_display": admin.review_due_display(claim),
        }
        for column, classes in PLAIN.items():
            shown = empty if values[column] is None else _shown(values[column], empty)
            cells.append(format_html('<td class="{}">{}</td>', classes, shown))
        rows.append(admin_list.ResultList(None, cells))
    return rows


def queue_result_list(cl):
    """Django's ``result_list`` tag's context (``admin_list.result_list``), with the queue's rows."""
    headers = list(admin_list.result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(admin_list.result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": queue_results(cl),
    }


@register.tag(name="review_queue_results")
def review_queue_results_tag(parser, token):
    return InclusionAdminNode(
        "review_queue_results",
        parser,
        token,
        func=queue_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )
