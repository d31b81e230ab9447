"""One function per email (subject, text and HTML templates under ``templates/emails/``).

Each builds the message for one outbox row; ``claims.services.emails_send_due`` sends it at most once. Each is
built in its reader's language (SPEC §15): the customer's in the tenant's (``Tenant.language``: Taiwan zh-Hant,
else English), a partner's in the language the contact saved as a user of the app, else English; a password
reset's in its user's saved language, else English.
"""

import functools
from email.utils import parseaddr

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db.models import Prefetch, prefetch_related_objects
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateformat import format as date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from associations.language import email_language, email_languages
from associations.models import Membership
from associations.zones import zone_time
from claims.models import ClaimEvent, ClaimItem, ClaimStatus, InformationReason
from claims.policy import current_request, notice_recipients
from claims.reasons import reason_display
from claims.templatetags.arbitration import item_notes, outcome_reason
from claims.templatetags.claims_text import partner_details
from claims.templatetags.lifecycle import reason_label
from claims.tokens import opt_out_token_make


def _in_language(language_of):
    """Builds the email inside ``translation.override``: subject, text, HTML, dates and labels alike."""

    def decorator(builder):
        @functools.wraps(builder)
        def wrapper(subject, *args, **kwargs):
            with translation.override(language_of(subject)):
                return builder(subject, *args, **kwargs)

        return wrapper

    return decorator


def _partner_language(claim):
    return getattr(claim, _PARTNER_LANGUAGE, None) or email_language(claim.partner_contact_email)


def _message(template, context, *, to, sender=None):
    context = {"site_url": settings.SITE_URL, **context}
    subject = " ".join(render_to_string(f"emails/{template}_subject.txt", context).split())
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    message = EmailMultiAlternatives(subject, text, from_email=sender, to=list(dict.fromkeys(to)))
    message.attach_alternative(html, "text/html")
    return message


def _items(claim):
    """The claim's items with their products and subscriptions, in catalog order: read once for a batch of emails
    (``notification_emails_prefetch``), else one query."""
    if "items" in getattr(claim, "_prefetched_objects_cache", {}):
        return list(claim.items.all())
    return list(claim.items.select_related("product", "subscription").order_by(*_ITEMS_ORDER))


def _products(claim, *, outcomes=("",), each=False):
    """The names of the claim's products (with their subscriptions), in catalog order, of the items whose outcome
    is one of ``outcomes``: by default those that go on (none a reviewer rejected or the customer opted out of or
    ended: SPEC §7, §8)."""
    names = []
    for item in _items(claim):
        if item.outcome not in outcomes:
            continue
        label = _products_label(item)
        if each or label not in names:
            names.append(label)
    return names


def _local_deadline(claim, moment):
    """A deadline on the customer's clock, its zone named by its city (SPEC §7, §15): "Monday 7 December 2026,
    23:59:59 Berlin time" (「柏林時間 2026年12月7日 星期一 23:59:59」), never an IANA name or an offset."""
    zone = claim.tenant.time_zone
    # Day and month names in the active language; the format itself is translated too (Taiwan writes the year first).
    return zone_time(zone, date_format(moment.astimezone(zone), pgettext("deadline in an email", "l j F Y, H:i:s")))


def _claim_url(claim):
    return settings.SITE_URL + reverse("claims:detail", args=[claim.pk])


def opt_out_url(claim, deadline=None):
    token = opt_out_token_make(submission_key=claim.submission_key, deadline=deadline or claim.opt_out_deadline)
    return settings.SITE_URL + reverse("customer_opt_out", args=[token])


def notice_deadline(claim, attempted_at):
    """The end of the opt-out window that a notice sent at ``attempted_at`` states (SPEC §6): 23:59:59 on the fifth
    business day after that day, in the tenant's zone. The same moment is stored on the claim when the mail server
    accepts that attempt (``claims.services.notices``), so the email, its link and the claim agree."""
    return claim.opt_out_deadline_after(attempted_at)


def _last_event(claim, action):
    return claim.events.filter(action=action).order_by("-created_at", "-pk").first()


def _last_move_to(claim, status):
    """The claim's latest event that moved it to ``status`` (read once for a batch of emails, else one query)."""
    events = getattr(claim, _STATUS_EVENTS, None)
    if events is not None:
        return next((event for event in events if event.new_status == status), None)
    return claim.events.filter(new_status=status).order_by("-created_at", "-pk").first()


def customer_sender(partner):
    """The customer's notice's From (SPEC §7): who asks, by the sender's name, as Partner Center's own emails
    name themselves ("Contoso Partners via Partner Center" <no-reply@…>), at DEFAULT_FROM_EMAIL's address.
    The envelope sender stays the outbox's VERP address (``claims.services.notifications``)."""
    name = _("%(partner)s via Partner Center") % {"partner": partner.name}
    name = " ".join(name.replace("\\", " ").replace('"', "'").split())
    return f'"{name}" <{parseaddr(settings.DEFAULT_FROM_EMAIL)[1]}>'


@_in_language(lambda claim: claim.tenant.language)
def customer_notified_email(claim, deadline=None):
    """To the customer contact, and the technical contact for Dynamics 365: the request in plain words (what a
    partner of record is, what the partner will see, what happens if nobody acts), the deadline on the customer's
    clock (``deadline``: the one this attempt states, ``notice_deadline``; by default the claim's) and one button to
    the customer's page. From the partner's name "via Partner Center". What the partner typed appears only in the
    quoted "details the partner entered" block (``partner_details``)."""
    deadline = deadline or claim.opt_out_deadline or notice_deadline(claim, timezone.now())
    # The notice's recipients are the rule book's (one place); the items were read once for the batch.
    to = notice_recipients(claim, dynamics=any(item.product.is_dynamics for item in _items(claim))).to
    return _message(
        "customer_notified",
        {
            "claim": claim,
            "partner": claim.partner,
            "mpn_id": claim.location.mpn_id,
            "products": _products(claim),
            "deadline": _local_deadline(claim, deadline),
            "opt_out_url": opt_out_url(claim, deadline),
            "partner_details": partner_details(claim),
        },
        to=to,
        sender=customer_sender(claim.partner),
    )


def request_event_current(claim):
    """The claim's current information request: the latest event that moved it to ``action_required`` (a
    reviewer's request, or a dispute answered with one), or None (``claims.policy.current_request``; the events
    were read once for a batch of emails, else one query)."""
    events = getattr(claim, _STATUS_EVENTS, None)
    return current_request(claim, events)


def _request_deadline(claim, event):
    """The answer's deadline while ``event`` is the claim's current request (an old request's email sent late
    has no deadline of its own to show)."""
    current = request_event_current(claim)
    if current is None or event is None or current.pk != event.pk or claim.response_deadline is None:
        return ""
    return _local_deadline(claim, claim.response_deadline)


def _undeliverable(event):
    """Whether the request ``event`` is the system's, after an undeliverable customer's notice: its email asks for
    a corrected address, with the mail server's words instead of a reviewer's message."""
    return event is not None and event.reason == InformationReason.NOTICE_UNDELIVERABLE


@_in_language(_partner_language)
def action_required_email(claim, event=None):
    """To the partner contact: one information request (``event``, the email's own; older rows without one
    read the latest request), its reason, message and deadline."""
    event = event or _last_event(claim, ClaimEvent.Action.INFORMATION_REQUESTED)
    return _message(
        "action_required",
        {
            "claim": claim,
            "event": event,
            "reason": reason_label(event.reason) if event and event.reason else "",
            "undeliverable": _undeliverable(event),
            "deadline": _request_deadline(claim, event) if event else "",
            "claim_url": _claim_url(claim),
        },
        to=[claim.partner_contact_email],
    )


@_in_language(_partner_language)
def answer_reminder_email(claim, event=None):
    """To the partner contact, one business day before the answer to the request ``event`` is due (SPEC §12).
    Nobody, once that request was answered (or another replaced it) or the claim has no deadline."""
    current = request_event_current(claim)
    if current is None or (event is not None and current.pk != event.pk) or claim.response_deadline is None:
        return None
    return _message(
        "answer_reminder",
        {
            "claim": claim,
            "event": current,
            "reason": reason_label(current.reason) if current.reason else "",
            "undeliverable": _undeliverable(current),
            "deadline": _local_deadline(claim, claim.response_deadline),
            "due_day": date_format(
                claim.response_deadline.astimezone(claim.tenant.time_zone),
                pgettext("due day in an email subject", "l j F"),
            ),
            "claim_url": _claim_url(claim),
        },
        to=[claim.partner_contact_email],
    )


@_in_language(_partner_language)
def rejected_email(claim):
    return _message(
        "rejected",
        {
            "claim": claim,
            "reasons": [reason_display(r) for r in claim.rejection_reasons],
            "claim_url": _claim_url(claim),
        },
        to=[claim.partner_contact_email],
    )


@_in_language(_partner_language)
def rejected_final_email(claim):
    """A disputed claim rejected again (SPEC §5): final, it cannot be disputed; a new claim is the way on."""
    return _message(
        "rejected_final",
        {
            "claim": claim,
            "reasons": [reason_display(r) for r in claim.rejection_reasons],
            "claim_url": _claim_url(claim),
            "new_claim_url": settings.SITE_URL + reverse("claims:create"),
        },
        to=[claim.partner_contact_email],
    )


def _rejected_items(claim):
    """The items a reviewer rejected while the claim went on (SPEC §8): [(product, why)], why being the reason's
    words and the reviewer's note. The notes are read (one query) only when there are such items."""
    rejected = [item for item in _items(claim) if item.outcome == ClaimItem.Outcome.REJECTED]
    if not rejected:
        return []
    notes = item_notes(claim.events.filter(action=ClaimEvent.Action.ITEM_REJECTED))
    found = []
    for item in rejected:
        why = outcome_reason(item)
        if notes.get(item.pk):
            why = _("%(reason)s (%(note)s)") % {"reason": why, "note": notes[item.pk]}
        found.append((_products_label(item), why))
    return found


def _products_label(item):
    if item.subscription_id:
        return _("%(product)s (subscription %(subscription_id)s)") % {
            "product": item.product.name,
            "subscription_id": item.subscription.subscription_id,
        }
    return item.product.name


@_in_language(_partner_language)
def official_email(claim):
    """The claim is official for the items that went on; those a reviewer rejected are named with why. It says
    how: the customer approved it now (SPEC §7), or the deadline passed without the customer opting out of these."""
    moved = _last_move_to(claim, ClaimStatus.OFFICIAL)
    return _message(
        "official",
        {
            "claim": claim,
            "approved": moved is not None and moved.action == ClaimEvent.Action.CUSTOMER_APPROVED,
            "products": _products(claim),
            "rejected": _rejected_items(claim),
            "claim_url": _claim_url(claim),
            "usage_url": settings.SITE_URL + reverse("claims:usage", args=[claim.pk]),
        },
        to=[claim.partner_contact_email],
    )


@_in_language(_partner_language)
def opted_out_email(claim):
    return _message("opted_out", {"claim": claim, "claim_url": _claim_url(claim)}, to=[claim.partner_contact_email])


ENDED_BECAUSE = {
    ClaimEvent.Action.DISASSOCIATED: gettext_lazy("your organization ended the association"),
    ClaimEvent.Action.CUSTOMER_DECLINED: gettext_lazy("the customer ended the association"),
    ClaimEvent.Action.REPLACED: gettext_lazy("another partner's approved claim replaced it"),
    ClaimEvent.Action.SUBSCRIPTION_ENDED: gettext_lazy("the customer's subscription ended"),
}


@_in_language(_partner_language)
def ended_email(claim):
    event = _last_move_to(claim, ClaimStatus.ENDED)
    return _message(
        "ended",
        {
            "claim": claim,
            "because": ENDED_BECAUSE.get(event.action if event else "", gettext_lazy("it was ended")),
            "message": event.message if event else "",
            # What was official and ended: the items that went on, and those the customer ended one by one.
            "products": _products(claim, outcomes=("", ClaimItem.Outcome.DECLINED)),
            "claim_url": _claim_url(claim),
        },
        to=[claim.partner_contact_email],
    )


def _ended_with(claim, event, outcome):
    """The names of the items ``event`` (one of a customer's per-item rows) ended with ``outcome``: those the same
    choice ended, which share its moment (``claim_items_end``)."""
    if event is None:
        return []
    return [
        name
        for name, item in zip(_products(claim, outcomes=(outcome,), each=True), _items_of(claim, outcome), strict=True)
        if item.outcome_at == event.created_at
    ]


def _items_of(claim, outcome):
    return [item for item in _items(claim) if item.outcome == outcome]


@_in_language(_partner_language)
def items_opted_out_email(claim, event=None):
    """To the partner contact: the customer opted out of some products (``event``: the first of that choice's
    history rows); the claim goes on with the others (SPEC §7)."""
    return _message(
        "items_opted_out",
        {
            "claim": claim,
            "ended": _ended_with(claim, event, ClaimItem.Outcome.OPTED_OUT),
            "products": _products(claim),
            "claim_url": _claim_url(claim),
        },
        to=[claim.partner_contact_email],
    )


@_in_language(_partner_language)
def items_declined_email(claim, event=None):
    """To the partner contact: the customer ended the associations of some products (``event``: the first of that
    choice's history rows), with the customer's reason; the others stay official (SPEC §7)."""
    return _message(
        "items_declined",
        {
            "claim": claim,
            "ended": _ended_with(claim, event, ClaimItem.Outcome.DECLINED),
            "message": event.message if event else "",
            "products": _products(claim),
            "claim_url": _claim_url(claim),
        },
        to=[claim.partner_contact_email],
    )


def replaced_email(association):
    """To the partner whose association another partner's claim replaced (never says which partner)."""
    item = getattr(association, "claim_item", None) if association.source == "claim" else None
    if item is not None:
        to = [item.claim.partner_contact_email]
    else:
        to = list(
            get_user_model()
            .objects.filter(
                membership__partner_id=association.partner_id,
                membership__role=Membership.Role.INCENTIVES_ADMIN,
                is_active=True,
            )
            .exclude(email="")
            .order_by("email")
            .values_list("email", flat=True)
        )
    if not to:
        return None
    with translation.override(email_language(to[0])):
        return _message(
            "replaced",
            {"association": association, "tenant": association.tenant, "product": association.product},
            to=to,
        )


@_in_language(_partner_language)
def challenged_email(claim, event):
    """To the partner contact of a claim whose items another partner now claims (SPEC §8): which of its products,
    that a reviewer decides, and how to add proof of execution to protect them. Never who challenges."""
    wanted = set((event.data or {}).get("challenge", {}).get("items", ())) if event is not None else set()
    products = [item.product.name for item in _items(claim) if not wanted or item.pk in wanted]
    return _message(
        "challenged",
        {
            "claim": claim,
            "products": list(dict.fromkeys(products)),
            "official": claim.status == ClaimStatus.OFFICIAL,
            "protect_url": _claim_url(claim) + "#protect",
        },
        to=[claim.partner_contact_email],
    )


# {kind: builder(notification) -> message or None} for the emails about accounts rather than claims (a password
# reset, claims.account_emails; the partner API's "webhook endpoint disabled"), registered when their app is ready:
# the outbox sends them like its own.
ACCOUNT_EMAIL_BUILDERS = {}


def notification_email(notification, *, attempted_at=None):
    """The message for one outbox row, or None when there is nobody to send it to. ``attempted_at``: when this
    attempt started (a customer's notice states the deadline counted from it)."""
    claim = notification.claim
    kind = notification.kind
    if kind in ACCOUNT_EMAIL_BUILDERS:
        return ACCOUNT_EMAIL_BUILDERS[kind](notification)
    if kind == "replaced":
        return replaced_email(notification.association)
    if kind == "customer_notified":
        return customer_notified_email(claim, notice_deadline(claim, attempted_at or timezone.now()))
    # Emails about one event of the claim (SPEC §5: one email per event) are built from that event.
    if kind == "challenged":
        return challenged_email(claim, notification.event)
    if kind in ("action_required", "answer_reminder"):
        builder = action_required_email if kind == "action_required" else answer_reminder_email
        return builder(claim, notification.event)
    if kind in ("items_opted_out", "items_declined"):
        builder = items_opted_out_email if kind == "items_opted_out" else items_declined_email
        return builder(claim, notification.event)
    builders = {
        "rejected": rejected_email,
        "rejected_final": rejected_final_email,
        "official": official_email,
        "opted_out": opted_out_email,
        "ended": ended_email,
    }
    return builders[kind](claim)


# Many rows' emails at once ---------------------------------------------------------------------------------------

_ITEMS_ORDER = ("product__sort_order", "pk")
# Where notification_emails_prefetch leaves what it read on each claim (the builders above read it from there).
_PARTNER_LANGUAGE = "_email_partner_language"
_STATUS_EVENTS = "_email_status_events"
# The kinds whose builders read the claim's items, its latest moves (request_event_current, ended_email,
# official_email), and the partner contact's language.
_KINDS_READING_ITEMS = frozenset(
    {"customer_notified", "official", "ended", "challenged", "items_opted_out", "items_declined"}
)
_KINDS_READING_MOVES = frozenset({"action_required", "answer_reminder", "ended", "official"})
_PARTNER_KINDS = frozenset(
    {
        "action_required",
        "answer_reminder",
        "rejected",
        "rejected_final",
        "official",
        "opted_out",
        "ended",
        "challenged",
        "items_opted_out",
        "items_declined",
    }
)


def notification_emails_prefetch(notifications):
    """Read what building the messages of many outbox rows needs, for all of them at once: the items of their
    claims (one query), the claims' latest moves to action_required, ended and official (one query), the partner
    contacts' saved languages (one query); none when no row needs it. The builders then read these from the claims
    instead of querying per email. ``notifications`` come with their claims (``select_related``)."""

    def claims_of(kinds):
        return [row.claim for row in notifications if row.claim_id is not None and row.kind in kinds]

    if with_items := claims_of(_KINDS_READING_ITEMS):
        items = ClaimItem.objects.select_related("product", "subscription").order_by(*_ITEMS_ORDER)
        prefetch_related_objects(with_items, Prefetch("items", queryset=items))
    if with_moves := claims_of(_KINDS_READING_MOVES):
        moves = (
            ClaimEvent.objects.filter(
                new_status__in=[ClaimStatus.ACTION_REQUIRED, ClaimStatus.ENDED, ClaimStatus.OFFICIAL]
            )
            .defer("data")
            .order_by("-created_at", "-pk")
        )
        prefetch_related_objects(with_moves, Prefetch("events", queryset=moves, to_attr=_STATUS_EVENTS))
    if partner_claims := claims_of(_PARTNER_KINDS):
        languages = email_languages({claim.partner_contact_email for claim in partner_claims})
        for claim in partner_claims:
            setattr(claim, _PARTNER_LANGUAGE, languages[claim.partner_contact_email])
