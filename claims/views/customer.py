"""The customer's page (SPEC §7): no sign-in, a signed link, in the tenant's language; only a POST acts."""

import logging

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import translation
from django_ratelimit import ALL
from django_ratelimit.core import is_ratelimited

from claims.models import Claim, OptOutWindow
from claims.services import (
    OptOutResult,
    claim_opt_out,
)
from claims.tokens import TokenExpired, TokenInvalid, opt_out_token_read

# Per client (behind the configured proxies, cpor/clientip.py): enough for a person clicking around, too few to
# guess tokens. Per link: a customer and their mail scanners open it a few times; many addresses hammering one link
# are stopped too. Checked in that order, so one client's junk never counts against a real customer's link.
OPT_OUT_CLIENT_RATE = "30/m"
OPT_OUT_LINK_RATE = "20/m"
logger = logging.getLogger(__name__)


def _opt_out_limited(request, token):
    """Whether this request to the customer's page is over a limit (per client, then per link).

    Fails open: django-ratelimit lets the cache's own errors through (redis's ConnectionError when Redis is down),
    and a customer must never get a 500 for that: the request goes through and the failure is logged.
    """
    try:
        return is_ratelimited(
            request, group="customer-opt-out", key="ip", rate=OPT_OUT_CLIENT_RATE, method=ALL, increment=True
        ) or is_ratelimited(
            request,
            group="customer-opt-out-link",
            key=lambda group, request: token,
            rate=OPT_OUT_LINK_RATE,
            method=ALL,
            increment=True,
        )
    except Exception as exc:  # each cache backend raises its own client's errors
        logger.warning("Opt-out rate limit not checked, request let through: the cache failed (%r)", exc)
        return False


def customer_opt_out(request, token):
    """The customer's page (SPEC §7): no login; GET shows the request, only POST opts out."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    if _opt_out_limited(request, token):
        return render(request, "claims/optout_limited.html", status=429)
    try:
        key, expires = opt_out_token_read(token)
    except TokenExpired:
        return render(request, "claims/optout_expired.html", status=410)
    except TokenInvalid:
        return render(request, "claims/optout_invalid.html", status=404)
    claim = (
        Claim.objects.select_related("partner", "location", "tenant")
        .prefetch_related("items__product")
        .filter(submission_key=key)
        .first()
    )
    if claim is None or claim.opt_out_deadline is None or int(claim.opt_out_deadline.timestamp()) != expires:
        return render(request, "claims/optout_invalid.html", status=404)
    # In the tenant's language, as the email (SPEC §15), unless the visitor chose one (the switch's cookie).
    language = request.LANGUAGE_CODE
    if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES and claim.tenant is not None:
        language = claim.tenant.language
    with translation.override(language):
        request.LANGUAGE_CODE = language
        response = _customer_opt_out_page(request, claim)
    response.headers["Content-Language"] = language  # LocaleMiddleware keeps the view's
    return response


def _customer_opt_out_page(request, claim):
    context = {
        "claim": claim,
        "products": sorted({i.product for i in claim.items.all()}, key=lambda p: (p.sort_order, p.name)),
    }
    if request.method == "POST":
        result = claim_opt_out(claim=claim)
        if result == OptOutResult.CLOSED:
            return render(request, "claims/optout_closed.html", context, status=409)
        return render(request, "claims/optout_done.html", context)
    window = claim.opt_out_window()
    if window == OptOutWindow.OPTED_OUT:
        return render(request, "claims/optout_done.html", context)
    if window == OptOutWindow.CLOSED:
        return render(request, "claims/optout_closed.html", context)
    return render(request, "claims/optout_confirm.html", context)
