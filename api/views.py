"""The partner's pages for the API (SPEC §16): keys (made, shown once, revoked, their last use), webhook endpoints
with their delivery log and **Redeliver**, bulk imports with a progress bar and the result file, and the API's docs.

Same shape as the claim pages (STYLE 10): an incentives admin only (``admin_role_required``: 403 for a view-only
user), the object of the user's partner or a 404, a form, one service call, then a redirect. A new key's and a new
endpoint's secret are shown in the answer to the POST that made them, never stored where they could be shown again.
"""

import csv
import io

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from api.forms import ApiKeyForm, ImportForm, WebhookEndpointForm
from api.keys import api_key_create, api_key_revoke
from api.models import ApiKey, BulkImport, ImportRow, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from api.services import imports as import_services
from api.services.webhooks import webhook_delivery_redeliver, webhook_endpoint_create, webhook_endpoint_enable
from associations.access import admin_role_required
from claims.exports import csv_row


@admin_role_required
def integrations(request):
    """API keys: the partner's keys with their last use, and a form to make one (its key shown once)."""
    form = ApiKeyForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            _key, created = api_key_create(
                partner=request.partner,
                user=request.user,
                name=form.cleaned_data["name"],
                access=form.cleaned_data["access"],
            )
            form = ApiKeyForm()
        else:
            status = 400
    keys = ApiKey.objects.filter(partner=request.partner).select_related("created_by", "revoked_by")
    context = {"form": form, "keys": keys, "created": created}
    return render(request, "api/integrations.html", context, status=status)


@require_POST
@admin_role_required
def api_key_revoke_view(request, key_id):
    key = get_object_or_404(ApiKey.objects.filter(partner=request.partner), pk=key_id)
    if api_key_revoke(key=key, user=request.user):
        messages.success(request, gettext("The key “%(name)s” was revoked: it no longer works.") % {"name": key.name})
    return redirect("api:integrations")


@admin_role_required
def webhooks(request):
    """The partner's webhook endpoints, and a form to register one (its signing secret shown once)."""
    form = WebhookEndpointForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                created = webhook_endpoint_create(
                    partner=request.partner,
                    user=request.user,
                    url=form.cleaned_data["url"],
                    description=form.cleaned_data["description"],
                    event_types=form.cleaned_data["event_types"],
                )
                form = WebhookEndpointForm()
            except ValidationError as exc:
                for message in exc.message_dict.get("url", exc.messages):
                    form.add_error("url", message)
                status = 400
        else:
            status = 400
    endpoints = WebhookEndpoint.objects.filter(partner=request.partner)
    context = {"form": form, "endpoints": endpoints, "created": created}
    return render(request, "api/webhooks.html", context, status=status)


def _endpoint(request, endpoint_id):
    return get_object_or_404(WebhookEndpoint.objects.filter(partner=request.partner), pk=endpoint_id)


@require_safe
@admin_role_required
def webhook_detail(request, endpoint_id):
    """An endpoint and its delivery log: each delivery with its attempts, newest first, 25 a page."""
    endpoint = _endpoint(request, endpoint_id)
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("claim_event")
    page = Paginator(deliveries, 25).get_page(request.GET.get("page"))
    attempts = {}
    for attempt in WebhookAttempt.objects.filter(delivery__in=list(page.object_list)).order_by("-started_at")[:200]:
        attempts.setdefault(attempt.delivery_id, []).append(attempt)
    rows = [(delivery, attempts.get(delivery.pk, [])) for delivery in page.object_list]
    context = {"endpoint": endpoint, "page": page, "rows": rows}
    return render(request, "api/webhook_detail.html", context)


@require_POST
@admin_role_required
def webhook_enable_view(request, endpoint_id):
    endpoint = _endpoint(request, endpoint_id)
    enabled = request.POST.get("enabled") == "1"
    webhook_endpoint_enable(endpoint=endpoint, enabled=enabled)
    if enabled:
        messages.success(request, gettext("The endpoint is enabled: waiting deliveries are being sent."))
    else:
        messages.success(request, gettext("The endpoint is disabled: nothing is sent to it until you enable it."))
    return redirect("api:webhook_detail", endpoint.pk)


@require_POST
@admin_role_required
def webhook_redeliver_view(request, endpoint_id, delivery_id):
    endpoint = _endpoint(request, endpoint_id)
    delivery = get_object_or_404(WebhookDelivery.objects.filter(endpoint=endpoint), pk=delivery_id)
    if webhook_delivery_redeliver(delivery=delivery):
        messages.success(request, gettext("The event is being delivered again."))
    else:
        messages.info(request, gettext("This event is being delivered right now."))
    return redirect("api:webhook_detail", endpoint.pk)


@admin_role_required
def imports(request):
    """Bulk import: upload a CSV of claims and a ZIP of their POE files; the partner's imports."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            bulk_import = import_services.bulk_import_create(
                partner=request.partner,
                user=request.user,
                csv_file=form.cleaned_data["csv"],
                zip_file=form.cleaned_data["poe"],
            )
        except import_services.ImportRefused as refused:
            form.add_error("csv", str(refused))
        else:
            return redirect("api:import_detail", bulk_import.pk)
    status = 400 if form.is_bound else 200
    bulk_imports = BulkImport.objects.filter(partner=request.partner)[:50]
    context = {"form": form, "imports": bulk_imports, "columns": import_services.COLUMNS}
    return render(request, "api/imports.html", context, status=status)


def _import(request, import_id):
    return get_object_or_404(BulkImport.objects.filter(partner=request.partner), pk=import_id)


def _progress(bulk_import):
    total = bulk_import.rows_total or 0
    done = min(bulk_import.rows_done, total)
    return {
        "state": bulk_import.state,
        "state_label": str(BulkImport.State(bulk_import.state).label),
        "rows_total": total,
        "rows_done": done,
        "percent": int(done * 100 / total) if total else (100 if bulk_import.state == BulkImport.State.DONE else 0),
        "finished": bulk_import.state in (BulkImport.State.DONE, BulkImport.State.FAILED),
    }


@require_safe
@admin_role_required
def import_detail(request, import_id):
    """An import's progress (a bar that the page's script moves, reading ``import_progress``) and, once done, its
    results: counts by outcome, the rows that were not imported and the result file."""
    bulk_import = _import(request, import_id)
    outcomes = dict.fromkeys(ImportRow.Outcome.values, 0)
    for outcome in ImportRow.objects.filter(bulk_import=bulk_import).values_list("outcome", flat=True):
        outcomes[outcome] += 1
    failed = ImportRow.objects.filter(bulk_import=bulk_import, outcome=ImportRow.Outcome.ERROR)[:100]
    context = {
        "bulk_import": bulk_import,
        "progress": _progress(bulk_import),
        "outcomes": [(ImportRow.Outcome(value).label, count) for value, count in outcomes.items()],
        "failed": failed,
    }
    return render(request, "api/import_detail.html", context)


@require_safe
@admin_role_required
def import_progress(request, import_id):
    return JsonResponse(_progress(_import(request, import_id)))


@require_safe
@admin_role_required
def import_result(request, import_id):
    bulk_import = _import(request, import_id)
    response = HttpResponse(
        "".join(csv_row(cells) for cells in import_services.result_rows(bulk_import)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(True, f"import-{bulk_import.pk}-result.csv")
    return response


@require_safe
@admin_role_required
def import_template(request):
    """The CSV template: the header row and one example row (Northwind Traders, the demo's free customer)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(import_services.COLUMNS)
    example = {
        "external_id": "crm-0001",
        "action": "submit",
        "location": request.partner.locations.filter(is_active=True).values_list("mpn_id", flat=True).first() or "",
        "domain": "northwindtraders.example",
        "directory_id": "9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d",
        "solution_area": "microsoft_365",
        "activities": "usage",
        "name": "Northwind Teams rollout",  # i18n: English only (sample data)
        "products": "microsoft-teams",
        "customer_contact_name": "Dana Whitley",  # i18n: English only (sample data)
        "customer_contact_title": "IT manager",  # i18n: English only (sample data)
        "customer_contact_email": "it@northwindtraders.example",
        "partner_contact_name": "Alex Kim",  # i18n: English only (sample data)
        "partner_contact_email": request.user.email,
        "poe_files": "northwind-teams.pdf",
    }
    writer.writerow([example.get(column, "") for column in import_services.COLUMNS])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, "claims-import-template.csv")
    return response


@require_safe
def api_docs(request):
    """The API's docs: Swagger UI from our own static files, reading the schema the code generates."""
    return render(request, "api/docs.html")
