from django.shortcuts import get_object_or_404, render

from associations.access import partner_required, scoped
from claims.models import Claim


def _get_claim_for_user(request, claim_id):
    """The claim if it belongs to the user's partner; 404 otherwise (never 403, which would confirm it exists)."""
    return get_object_or_404(scoped(Claim.objects.select_related("location", "tenant"), request), pk=claim_id)


@partner_required
def claim_list(request):
    claims = scoped(Claim.objects.select_related("location"), request)[:50]
    return render(request, "claims/claim_list.html", {"claims": claims})


@partner_required
def claim_detail(request, claim_id):
    claim = _get_claim_for_user(request, claim_id)
    return render(request, "claims/claim_detail.html", {"claim": claim})
