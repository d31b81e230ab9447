"""The customer's page (SPEC §7): no sign-in, a signed link, in the tenant's language; only a POST acts.

One page, whatever the claim's stage (``claims.policy.CustomerRules``): awaiting the customer (Approve now, Opt out
of some or all products), official (Decline later: end some or all of its associations), and the ends (opted out,
ended). Opting out and ending ask for confirmation first (a POST without ``confirm`` shows what it means, and acts
on nothing). A POST that acts calls one service (``claims.services.customer``), which asks the rule book again under
the claim's row lock; the answer is the claim's page as it now stands, with what was done said on top, so the same
POST made again (a replay, a double click) finds it done and shows the same page, and writes nothing.
"""

import logging

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy
from django_ratelimit import ALL
from django_ratelimit.core import is_ratelimited

from associations.wording import words_list
from claims.forms.customer import APPROVE, DECLINE, OPT_OUT, CustomerChoiceForm, item_places
from claims.models import Claim, ClaimItem
from claims.policy import CustomerRules
from claims.services import customer as choices
from claims.services.items import item_name
from claims.tokens import TokenInvalid, opt_out_token_read

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
    """The customer's page (SPEC §7): no login; GET shows where the request stands, only a POST acts."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    if _opt_out_limited(request, token):
        return render(request, "claims/optout_limited.html", status=429)
    try:
        key, deadline = opt_out_token_read(token)
    except TokenInvalid:
        return render(request, "claims/optout_invalid.html", status=404)
    claim = _claim(key)
    # The link names its notice by the deadline it stated: a link made for another deadline, or for a notice that
    # was replaced (an undeliverable one, then a corrected address), is not this claim's.
    if claim is None or claim.opt_out_deadline is None or int(claim.opt_out_deadline.timestamp()) != deadline:
        return render(request, "claims/optout_invalid.html", status=404)
    # In the tenant's language, as the email (SPEC §15), unless the visitor chose one (the switch's cookie).
    language = request.LANGUAGE_CODE
    if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES and claim.tenant is not None:
        language = claim.tenant.language
    with translation.override(language):
        request.LANGUAGE_CODE = language
        response = _customer_page(request, claim)
    response.headers["Content-Language"] = language  # LocaleMiddleware keeps the view's
    return response


def _claim(key):
    return choices.customer_claim_prefetch(Claim.objects.all()).filter(submission_key=key).first()


# The items' endings as the customer reads them on their own page: their own doing ("The customer opted out" is the
# partner's and the reviewer's view).
YOUR_ENDINGS = {
    ClaimItem.Outcome.OPTED_OUT: gettext_lazy("You opted out"),
    ClaimItem.Outcome.DECLINED: gettext_lazy("You ended it"),
}

SERVICES = {APPROVE: choices.customer_approve, OPT_OUT: choices.customer_opt_out, DECLINE: choices.customer_decline}


def _customer_page(request, claim):
    items = list(claim.items.all())
    rules = CustomerRules(claim, items)
    if request.method != "POST":
        return _render(request, claim, rules)
    form = CustomerChoiceForm(request.POST, items=items)
    if not form.is_valid():
        return _render(request, claim, rules, form=form, status=400)
    action, chosen = form.cleaned_data["action"], form.chosen
    decision = {APPROVE: rules.approve_now, OPT_OUT: rules.opt_out, DECLINE: rules.decline}[action]
    if action != APPROVE and not form.cleaned_data["confirm"]:
        # The confirmation step (SPEC §7): what ends and that it is final; nothing is written.
        if decision:
            return _render_confirm(request, claim, rules, form, action, chosen)
        return _render(request, claim, rules, error=decision.why_not, status=409)
    kwargs = {"claim": claim}
    if action != APPROVE:
        kwargs["item_ids"] = [item.pk for item in chosen]
    if action == DECLINE:
        kwargs["reason"] = form.cleaned_data["reason"]
    outcome = SERVICES[action](**kwargs)
    claim = _claim(claim.submission_key)
    rules = CustomerRules(claim, list(claim.items.all()))
    if not outcome:
        return _render(request, claim, rules, error=outcome.why_not or decision.why_not, status=409)
    return _render(request, claim, rules, done=action, done_items=[item_name(item) for item in chosen])


def _context(claim, rules, **extra):
    official_since = min(
        (item.association.started_at for item in rules.declinable if item.association is not None), default=None
    )
    return {
        "claim": claim,
        "rules": rules,
        "items": [(n, item, item_name(item)) for n, item in enumerate(rules.items, start=1)],
        # As the language lists them (Taiwan: 「Microsoft Teams、Yammer」).
        "products_text": words_list(
            p.name for p in sorted({i.product for i in rules.items}, key=lambda p: (p.sort_order, p.name))
        ),
        "official_since": official_since,
        "ended_items": [
            (item, item_name(item), YOUR_ENDINGS[item.outcome]) for item in rules.items if item.outcome in YOUR_ENDINGS
        ],
        "zone": claim.time_zone,
        **extra,
    }


def _render(request, claim, rules, *, form=None, error="", done="", done_items=(), status=200):
    context = _context(
        claim, rules, form=form, error=error, done={done: True} if done else {}, done_names=words_list(done_items)
    )
    if form is not None and form.errors and not error:
        context["error"] = " ".join(str(e) for errors in form.errors.values() for e in errors)
    return render(request, "claims/customer/page.html", context, status=status)


def _render_confirm(request, claim, rules, form, action, chosen):
    # Choosing every product that goes on (is official) ends the whole request (association); else the rest go on.
    left = rules.going_on if action == OPT_OUT else rules.declinable
    chosen_ids = {item.pk for item in chosen}
    context = _context(
        claim,
        rules,
        form=form,
        action=action,
        decline=action == DECLINE,
        chosen=[item_name(item) for item in chosen],
        places=item_places(rules.items, chosen),
        rest=[item_name(item) for item in left if item.pk not in chosen_ids],
        everything={item.pk for item in left} <= chosen_ids,
    )
    return render(request, "claims/customer/confirm.html", context)
