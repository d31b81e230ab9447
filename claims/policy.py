"""The rule book (SPEC §17, STYLE 3b): what a person may do to a claim now.

One question, asked by everyone: the views before they bind a form (and 403, 404 or the claim page with the reason
when refused), the templates and the admin's claim page (which buttons, which words), and the services again under
the claim's row lock. Each answer is a ``Decision``: ``allowed``, and when refused, why (``why_not``, plain words
for the page) and how (``refusal``: what a view answers), with the window's end (``until``) where one applies.

Who asks (``Viewer``), for a claim, is one of: the claim's partner's **incentives admin** (acts), its **incentives
user** (views only: every partner action is refused with ``ROLE``, yet the page may say what the company can do
and until when), a **reviewer** (the decisions of review), or **nobody** (another partner's user, a visitor, staff
outside the Reviewers group: everything refused, ``NOT_YOURS``). The customer's choices (whoever holds the claim's
signed link: approve now, opt out of some or all items, end official ones later) are ``CustomerRules``, asked by
``claims.views.customer`` and again by ``claims.services.customer`` under the claim's row lock.

=====================  ==========================================================================================
partner action         allowed (to the incentives admin) when
=====================  ==========================================================================================
continue editing       a draft (the wizard, resumed)
delete                 a draft
answer                 partner action required, within the answer window; the edits: comment, POE, MPN ID, remove
                       products, contacts; the answer to the system's ``notice_undeliverable`` request: the
                       comment and the contacts only
dispute                rejected, never disputed, within the dispute window (30 days)
protect                official (add POE with a comment, any time), or awaiting the customer while another partner's
                       claim competes for its items (SPEC §8: the challenge notice's way to protect them)
disassociate           official
copy                   rejected past its dispute window (or disputed already), rejected (final), expired
=====================  ==========================================================================================

A reviewer approves or asks for more information on a claim under review or disputed, and rejects one under
review, waiting for the partner's answer or disputed (``Reject.final``: a claim that was disputed once is rejected
for good).

Why a plain module and not ``user.has_perm(perm, claim)`` (Django's object-permission hook, django-rules'
predicates): a page must say why an action is refused and until when it is open, which a boolean cannot carry; an
authentication backend would be asked by every ``has_perm`` of the admin as well; and the services ask the same
rules for a locked row, with no user object in some of their callers' hands. ``Decision`` is truthy when allowed,
so ``if rules.dispute:`` reads as a permission check would.

Everything here works on the claim already loaded (its tenant, for the windows): no query, except the current
information request of a claim waiting for an answer when its history was not handed over (``events``).
"""

import dataclasses
import datetime
from enum import StrEnum

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.translation import gettext, gettext_lazy

from associations.access import get_membership
from claims.models import ClaimStatus, InformationReason

# An association that counts (associations.models.Association.Status.ACTIVE).
ASSOCIATION_ACTIVE = "active"

# The permission a reviewer holds to decide on claims (claims.reviewers.PERMISSIONS).
REVIEW_PERMISSION = "claims.change_claim"


class Role(StrEnum):
    PARTNER_ADMIN = "partner_admin"
    PARTNER_VIEWER = "partner_viewer"
    REVIEWER = "reviewer"
    NOBODY = "nobody"


class Refusal(StrEnum):
    """How an action is refused, which says what a view answers."""

    NOT_YOURS = "not_yours"  # not this person's claim: 404, never confirming that it exists
    ROLE = "role"  # this person never does this (a view-only user, a reviewer on a partner action): 403
    STATUS = "status"  # not in this status (any more): the claim page with ``why_not``
    WINDOW = "window"  # the window has ended: the claim page with ``why_not``
    ONCE = "once"  # done once already, and it can be done only once: the claim page with ``why_not``


class Edit(StrEnum):
    """What an answer to an information request may do (SPEC §12)."""

    COMMENT = "comment"
    POE = "poe"
    LOCATION = "location"
    REMOVE_ITEMS = "remove_items"
    CONTACTS = "contacts"


ANSWER_EDITS = frozenset(Edit)
# The answer to an undeliverable customer's notice: a corrected contact address (and a comment), nothing else.
NOTICE_CORRECTION_EDITS = frozenset({Edit.COMMENT, Edit.CONTACTS})

# What reviewers decide on (claims.services.review uses the same lists).
APPROVABLE = (ClaimStatus.UNDER_REVIEW, ClaimStatus.DISPUTED)
REJECTABLE = (ClaimStatus.UNDER_REVIEW, ClaimStatus.ACTION_REQUIRED, ClaimStatus.DISPUTED)

ADMINS_ONLY = gettext_lazy("Only an incentives admin of your organization can do this.")
PARTNERS_ONLY = gettext_lazy("Only the partner who made the claim can do this.")
REVIEWERS_ONLY = gettext_lazy("Only a reviewer can decide on a claim.")
NOT_YOURS = gettext_lazy("This claim is not one of your organization's.")


@dataclasses.dataclass(frozen=True)
class Decision:
    """May this person do this now? Truthy when allowed. Refused: ``why_not`` (plain words, in the language active
    when it was decided) and ``refusal`` (a ``Refusal``). ``until``: when the window it depends on ends."""

    allowed: bool
    why_not: str = ""
    refusal: str = ""
    until: datetime.datetime | None = None

    def __bool__(self):
        return self.allowed

    @property
    def for_admins(self):
        """Refused only because this person views and never acts: an incentives admin of the company may."""
        return self.refusal == Refusal.ROLE

    @property
    def done_once(self):
        """Refused because it was done once already and can be done only once."""
        return self.refusal == Refusal.ONCE


@dataclasses.dataclass(frozen=True)
class Answer(Decision):
    """The answer to an information request: which edits it may make, and whether it is the correction of an
    undeliverable customer's notice (the contacts only)."""

    edits: frozenset = frozenset()
    notice_correction: bool = False

    def may(self, edit):
        return self.allowed and edit in self.edits


@dataclasses.dataclass(frozen=True)
class DisputeSection:
    rejected: bool
    disputed: bool
    final: bool


@dataclasses.dataclass(frozen=True)
class Reject(Decision):
    """A reviewer's rejection; ``final`` when the claim was disputed once (``rejected_final``, SPEC §12)."""

    final: bool = False


def _refused(why_not, refusal, until=None, cls=Decision, **extra):
    return cls(False, str(why_not), refusal, until, **extra)


def _date(moment):
    return date_format(moment, "DATE_FORMAT")


@dataclasses.dataclass(frozen=True)
class Viewer:
    """Who asks: a user as the rule book sees them (their membership and review permission read once)."""

    kind: str  # a Role, before the claim is known: a partner user is an admin or a viewer of ``partner_id``
    partner_id: int | None = None

    @classmethod
    def of(cls, user):
        if user is None or not user.is_authenticated or not user.is_active:
            return cls(Role.NOBODY)
        if user.is_staff:
            # Staff review (with the permission) and never act for a partner, whatever membership they may have:
            # who decides on claims makes none (and the admin's pages ask no membership query).
            return cls(Role.REVIEWER if user.has_perm(REVIEW_PERMISSION) else Role.NOBODY)
        membership = get_membership(user)
        if membership is None:
            return cls(Role.NOBODY)
        kind = Role.PARTNER_ADMIN if membership.can_manage_claims else Role.PARTNER_VIEWER
        return cls(kind, membership.partner_id)

    @property
    def acts(self):
        """Whether this person acts for their company (creates and manages claims), or only views them."""
        return self.kind == Role.PARTNER_ADMIN

    def role_for(self, claim):
        if self.kind in (Role.PARTNER_ADMIN, Role.PARTNER_VIEWER):
            return self.kind if claim.partner_id == self.partner_id else Role.NOBODY
        if self.kind == Role.REVIEWER:
            # Reviewers see a claim once it is submitted: a draft is the partner's unfinished work (SPEC §12).
            return Role.NOBODY if claim.status in ClaimStatus.never_submitted() else Role.REVIEWER
        return Role.NOBODY


def current_request(claim, events=None):
    """The claim's current information request: the latest event that moved it to ``action_required`` while it is
    there, or None. ``events``: the claim's history, newest first, when the caller has it (no query then)."""
    if claim.status != ClaimStatus.ACTION_REQUIRED:
        return None
    if events is not None:
        return next((event for event in events if event.new_status == ClaimStatus.ACTION_REQUIRED), None)
    return claim.events.filter(new_status=ClaimStatus.ACTION_REQUIRED).order_by("-created_at", "-pk").first()


class ClaimRules:
    """What ``viewer`` (a ``Viewer``, or a user) may do to ``claim`` at ``now``: each rule a cached Decision."""

    def __init__(self, claim, viewer, *, now=None, events=None):
        self.claim = claim
        self.viewer = viewer if isinstance(viewer, Viewer) else Viewer.of(viewer)
        self.role = self.viewer.role_for(claim)
        self.now = now or timezone.now()
        self._events = events

    # --- who -----------------------------------------------------------------------------------------------------

    @property
    def acts(self):
        """Whether this person acts for the claim's partner (the incentives admin), or only views it."""
        return self.role == Role.PARTNER_ADMIN

    def _partner(self, decision):
        """``decision`` (what the company may do, status and windows) for this person: an incentives admin gets it
        as it is; a view-only user is refused (ROLE) what the company may do; anyone else is refused."""
        if self.role == Role.PARTNER_ADMIN:
            return decision
        if self.role == Role.NOBODY:
            return _refused(NOT_YOURS, Refusal.NOT_YOURS, cls=type(decision))
        if self.role == Role.REVIEWER:
            return _refused(PARTNERS_ONLY, Refusal.ROLE, cls=type(decision))
        if not decision:
            return decision
        fields = {f.name: getattr(decision, f.name) for f in dataclasses.fields(decision)}
        return type(decision)(**{**fields, "allowed": False, "why_not": str(ADMINS_ONLY), "refusal": Refusal.ROLE})

    # --- the partner's actions -------------------------------------------------------------------------------------

    @cached_property
    def continue_editing(self):
        """Open a draft in the wizard again (SPEC §12), any time until it expires."""
        return self._partner(self._draft_decision)

    @cached_property
    def delete_draft(self):
        return self._partner(self._draft_decision)

    @cached_property
    def _draft_decision(self):
        window = self.claim.draft_window(self.now)
        if window is None:
            return _refused(gettext("This customer association is no longer a draft."), Refusal.STATUS)
        return Decision(True, until=window.until)

    @cached_property
    def answer(self):
        """The answer to an information request (SPEC §12), with the edits it may make."""
        claim = self.claim
        window = claim.answer_window(self.now)
        if window is None:
            return self._partner(
                _refused(gettext("This claim is not waiting for your answer."), Refusal.STATUS, cls=Answer)
            )
        request = current_request(claim, self._events)
        correction = request is not None and request.reason == InformationReason.NOTICE_UNDELIVERABLE
        edits = NOTICE_CORRECTION_EDITS if correction else ANSWER_EDITS
        if not window.open:
            why = gettext("The time to answer ended on %(date)s.") % {"date": _date(window.until)}
            refused = _refused(why, Refusal.WINDOW, window.until, cls=Answer, notice_correction=correction)
            return self._partner(refused)
        return self._partner(Answer(True, until=window.until, edits=edits, notice_correction=correction))

    @cached_property
    def dispute_window(self):
        """The claim's dispute window (``Claim.dispute_window``), or None when it is not rejected."""
        return self.claim.dispute_window(self.now)

    @cached_property
    def dispute(self):
        """Dispute a rejection: once, within its window (SPEC §12)."""
        claim, window = self.claim, self.dispute_window
        if window is None:
            decision = _refused(gettext("Only a rejected claim can be disputed."), Refusal.STATUS)
        elif claim.disputed_at is not None:
            decision = _refused(
                gettext("This claim was disputed once already: a rejection can be disputed only once."),
                Refusal.ONCE,
                window.until,
            )
        elif not window.open:
            decision = _refused(
                gettext("The 30 days to dispute this rejection ended on %(date)s.") % {"date": _date(window.until)},
                Refusal.WINDOW,
                window.until,
            )
        else:
            decision = Decision(True, until=window.until)
        return self._partner(decision)

    @cached_property
    def protect(self):
        """Add POE with a comment to an official association, any time (SPEC §8, §12); or to a claim awaiting the
        customer that another partner's claim challenges (``competing``: the challenge notice tells the partner),
        until the reviewer decides."""
        challenged = self.claim.status == ClaimStatus.CUSTOMER_NOTIFIED and self.claim.competing
        if self.claim.status != ClaimStatus.OFFICIAL and not challenged:
            why = gettext("Proof of execution can be added only to an official association.")
            return self._partner(_refused(why, Refusal.STATUS))
        return self._partner(Decision(True))

    @cached_property
    def disassociate(self):
        """End an official association (SPEC §5 ``ended``): final, and the usage data stops being shown."""
        if self.claim.status != ClaimStatus.OFFICIAL:
            return self._partner(_refused(gettext("Only an official association can be ended."), Refusal.STATUS))
        return self._partner(Decision(True))

    @cached_property
    def copy(self):
        """Copy into a new claim (a draft), once the claim can no longer move on (SPEC §12)."""
        status = self.claim.status
        if status in (ClaimStatus.REJECTED_FINAL, ClaimStatus.EXPIRED):
            return self._partner(Decision(True))
        if status == ClaimStatus.REJECTED and not self.dispute_window.open:
            return self._partner(Decision(True))
        return self._partner(_refused(gettext("This claim cannot be copied into a new claim."), Refusal.STATUS))

    # --- what the page says ----------------------------------------------------------------------------------------

    @cached_property
    def stage(self):
        """{status: whether the claim is in it}, for the words a page shows per status (``rules.stage.official``):
        templates never compare status strings."""
        return {value: value == self.claim.status for value in ClaimStatus.values}

    @cached_property
    def dispute_section(self):
        """What the claim page's Dispute section is about, or None when it has none: ``rejected`` (the dispute, or
        why it can no longer be), ``disputed`` (the reviewer decides on the dispute), ``final`` (rejected for good).
        The decision itself is ``dispute``."""
        status = self.claim.status
        if status not in (ClaimStatus.REJECTED, ClaimStatus.DISPUTED, ClaimStatus.REJECTED_FINAL):
            return None
        return DisputeSection(
            rejected=status == ClaimStatus.REJECTED,
            disputed=status == ClaimStatus.DISPUTED,
            final=status == ClaimStatus.REJECTED_FINAL,
        )

    @cached_property
    def editing_over(self):
        """Whether "Once you submit your customer association, you can't edit it" is true of this claim: it was
        submitted, and no answer that offers edits is open (a draft is edited; so is a claim whose answer is due)."""
        if self.claim.status in ClaimStatus.never_submitted():
            return False
        window = self.claim.answer_window(self.now)
        return window is None or not window.open

    # --- the reviewer's decisions ----------------------------------------------------------------------------------

    def _reviewer(self, statuses, why_not, cls=Decision, **extra):
        if self.role != Role.REVIEWER:
            refusal = Refusal.NOT_YOURS if self.role == Role.NOBODY else Refusal.ROLE
            return _refused(REVIEWERS_ONLY, refusal, cls=cls, **extra)
        if self.claim.status not in statuses:
            return _refused(why_not, Refusal.STATUS, cls=cls, **extra)
        return cls(True, **extra)

    @cached_property
    def approve(self):
        return self._reviewer(APPROVABLE, gettext("Only a claim under review or disputed can be approved."))

    @cached_property
    def request_information(self):
        why_not = gettext("More information can be asked for only on a claim under review or disputed.")
        return self._reviewer(APPROVABLE, why_not)

    @cached_property
    def reject(self):
        why_not = gettext("Only a claim under review, waiting for the partner's answer or disputed can be rejected.")
        return self._reviewer(REJECTABLE, why_not, cls=Reject, final=rejection_is_final(self.claim))

    @cached_property
    def decisions(self):
        """The reviewer's decisions allowed now, in the order the admin shows them: (name, Decision)."""
        found = [("approve", self.approve), ("request_information", self.request_information), ("reject", self.reject)]
        return [(name, decision) for name, decision in found if decision]


def rejection_is_final(claim):
    """Whether rejecting ``claim`` now is for good (``rejected_final``, SPEC §12): it was disputed once."""
    return claim.disputed_at is not None


def claim_rules(claim, user, *, now=None, events=None):
    """The rule book for ``claim`` and ``user`` (or a ``Viewer``) at ``now``."""
    return ClaimRules(claim, user, now=now, events=events)


# --- the customer's choices (SPEC §7) ----------------------------------------------------------------------------


class CustomerStage(StrEnum):
    """Where the claim stands for its customer: what the page shows."""

    AWAITING = "awaiting"  # the opt-out window is open: approve now, opt out of some or all items
    DEADLINE_PASSED = "deadline_passed"  # the window closed, the sweep makes it official within a minute
    OFFICIAL = "official"  # decline later: end some or all of its associations
    OPTED_OUT = "opted_out"  # the customer opted out of every item
    ENDED = "ended"  # no association from it lives any more
    CLOSED = "closed"  # anything else (sent back to the partner): nothing for the customer to do


class CustomerRules:
    """What the customer may do to ``claim`` at ``now``; ``items``: its ClaimItems with their associations (the
    services read them under the claim's row lock). The link lives while ``alive``: the claim awaits the customer
    or an association from it is active."""

    def __init__(self, claim, items, *, now=None):
        self.claim, self.items, self.now = claim, list(items), now or timezone.now()
        self.window = claim.customer_window(self.now)

    @cached_property
    def going_on(self):
        """The items nobody ended (what Approve now makes official and what may be opted out of)."""
        return [item for item in self.items if not item.outcome]

    @cached_property
    def declinable(self):
        """The items whose association from this claim is active (what Decline later may end)."""
        return [i for i in self.going_on if i.association_id and i.association.status == ASSOCIATION_ACTIVE]

    @cached_property
    def stage(self):
        status = self.claim.status
        if status == ClaimStatus.CUSTOMER_NOTIFIED and self.window is not None:
            return CustomerStage.AWAITING if self.window.open else CustomerStage.DEADLINE_PASSED
        if status == ClaimStatus.OFFICIAL and self.declinable:
            return CustomerStage.OFFICIAL
        if status == ClaimStatus.OPTED_OUT:
            return CustomerStage.OPTED_OUT
        if status in (ClaimStatus.OFFICIAL, ClaimStatus.ENDED):
            return CustomerStage.ENDED
        return CustomerStage.CLOSED

    @cached_property
    def stage_is(self):
        """{stage: whether the claim is in it}, for templates (no string comparisons there)."""
        return {value: value == self.stage for value in CustomerStage}

    @property
    def alive(self):
        return self.stage in (CustomerStage.AWAITING, CustomerStage.DEADLINE_PASSED, CustomerStage.OFFICIAL)

    def _awaiting(self):
        if self.stage == CustomerStage.AWAITING and self.going_on:
            return Decision(True, until=self.window.until)
        if self.stage == CustomerStage.DEADLINE_PASSED:
            why = gettext(
                "The time to answer this request has passed: the association becomes official within minutes. "
                "You can then end it here at any time."
            )
            return _refused(why, Refusal.WINDOW, self.window.until)
        return _refused(gettext("This request is no longer waiting for your answer."), Refusal.STATUS)

    @cached_property
    def approve_now(self):
        """Make the items that go on official at once, instead of at the deadline."""
        return self._awaiting()

    @cached_property
    def opt_out(self):
        """Opt out of some or all of the items that go on, before the deadline."""
        return self._awaiting()

    @cached_property
    def decline(self):
        """End some or all of the official associations from this claim, any time while one lives."""
        if self.stage == CustomerStage.OFFICIAL:
            return Decision(True)
        return _refused(gettext("There is no active association left to end."), Refusal.STATUS)


def customer_rules(claim, items, *, now=None):
    return CustomerRules(claim, items, now=now)


# --- who receives the customer's notice (SPEC §5) ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NoticeRecipients:
    """Who the customer's notice goes to: the customer contact, whose copy decides it (a bounce sends the claim back
    to the partner), and for a claim with a Dynamics 365 product the technical contact, a copy that decides
    nothing."""

    customer: str
    technical: str = ""

    @property
    def to(self):
        return [self.customer, self.technical] if self.technical else [self.customer]


def notice_recipients(claim, *, dynamics=None):
    """The NoticeRecipients of ``claim``. ``dynamics``: whether it has a Dynamics 365 item, when the caller knows
    (otherwise one query)."""
    technical = (claim.technical_contact_email or "").strip()
    if technical and dynamics is None:
        dynamics = claim.items.filter(product__is_dynamics=True).exists()
    return NoticeRecipients(customer=claim.customer_contact_email, technical=technical if dynamics else "")


def needs_technical_contact(products):
    """Whether a claim of these products must name the customer's technical contact: one is a Dynamics 365 product
    (SPEC §4 step 5), which is also when the notice goes to that contact too (``notice_recipients``)."""
    return any(product.is_dynamics for product in products)
