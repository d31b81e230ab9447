"""The customer's usage data of an official association (SPEC §5): a chart and a table, and as CSV."""

from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from associations.access import partner_required, scoped
from claims import exports as claims_exports
from claims import selectors
from claims.charts import usage_chart
from claims.models import Claim, ClaimItem, ClaimStatus


def _official_claim_for_user(request, claim_id):
    """Usage data exists only for the partner's own official claims: 404 before (and for anyone else)."""
    items = ClaimItem.objects.select_related("product", "association").filter(association__status="active")
    return get_object_or_404(
        scoped(Claim.objects.select_related("location", "tenant"), request)
        .filter(status=ClaimStatus.OFFICIAL)
        .prefetch_related(Prefetch("items", queryset=items)),
        pk=claim_id,
    )


def _association_ended(request, claim_id):
    """A usage link kept after the partner's own association ended: 410 Gone with a page that says when, instead of
    a bare 404 (SPEC §15). None for any other claim, which stays a 404 (anyone else's claim looks absent)."""
    claim = scoped(Claim.objects.all(), request).filter(status=ClaimStatus.ENDED, pk=claim_id).first()
    if claim is None:
        return None
    return render(request, "claims/association_ended.html", {"claim": claim}, status=410)


@require_safe
@partner_required
def claim_usage_view(request, claim_id):
    if (ended := _association_ended(request, claim_id)) is not None:
        return ended
    claim = _official_claim_for_user(request, claim_id)
    usage = selectors.claim_usage(claim=claim)
    series = [
        {"product": product, "records": records, "chart": usage_chart(records)} for product, records in usage.items()
    ]
    context = {"claim": claim, "series": series}
    return render(request, "claims/usage.html", context)


@require_safe
@partner_required
def claim_usage_csv_view(request, claim_id):
    if (ended := _association_ended(request, claim_id)) is not None:
        return ended
    claim = _official_claim_for_user(request, claim_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"usage-{claim.pk}.csv")
    claims_exports.usage_csv_write(response, claim)
    return response
