"""The reviewer's decisions in admin (SPEC §8, §12): Approve, Request more information and Reject, as buttons on a
claim's page (each with its page) and as list actions. Which decisions a claim offers is the rule book's answer
(``claims.policy.ClaimRules``: ``approve``, ``request_information``, ``reject``): the claim page's buttons read it
(``render_change_form``), a decision page refuses what it does not allow, and the list actions skip those claims.
Each decision calls the same service as everything else (``claims.services``).

Approve decides item by item (SPEC §8, ``ApproveForm``): each item approved, or rejected with a reason and a note;
an approved item that another partner already has awaiting the customer or official asks for the reviewer's reason
(``claims.services.review.claim_approve``: refused without one, recorded with it). The claim's page gets the
competing claims and associations for its list (``templates/admin/claims/claim/_competing.html``).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from associations.wording import words_list
from claims.admin.disputes import rejection_final_note
from claims.models import REVIEWER_REJECTION_REASONS, ClaimStatus, InformationReason
from claims.policy import ClaimRules
from claims.selectors.competition import contested_items
from claims.services import ClaimStatusConflict, claim_approve, claim_reject, claim_request_information
from claims.services.review import ApprovalNeedsConfirmation


class InformationRequestForm(forms.Form):
    # Not the system's own reason (an undeliverable customer's notice: claims.services.notices).
    reason = forms.ChoiceField(label=_("Reason"), choices=InformationReason.for_reviewers)
    message = forms.CharField(
        label=_("Message"),
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        max_length=5000,
        help_text=_("The partner sees this on the claim's page and in the email."),
    )


class RejectForm(forms.Form):
    reason = forms.ChoiceField(label=_("Reason"), choices=REVIEWER_REJECTION_REASONS)
    message = forms.CharField(
        label=_("Message"),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        max_length=5000,
        required=False,
        help_text=_("Optional: shown to the partner with the reason."),
    )


class ItemDecision(forms.Form):
    """One item's decision on the Approve page (SPEC §8): approve it, or reject it with a reason (and a note)."""

    APPROVE, REJECT = "approve", "reject"

    # Not required: a post without an item's decision approves it (the page's radio starts on Approve).
    decision = forms.ChoiceField(
        choices=[(APPROVE, _("Approve")), (REJECT, _("Reject"))],
        initial=APPROVE,
        widget=forms.RadioSelect,
        required=False,
    )
    reason = forms.ChoiceField(choices=[("", _("Choose a reason")), *REVIEWER_REJECTION_REASONS], required=False)
    message = forms.CharField(max_length=2000, required=False, help_text=_("Optional: shown to the partner."))

    def __init__(self, *args, item, contested=(), **kwargs):
        super().__init__(*args, prefix=f"item-{item.pk}", **kwargs)
        self.item = item
        self.contested = contested

    @property
    def rejected(self):
        return self.is_bound and self.is_valid() and self.cleaned_data["decision"] == self.REJECT

    def clean(self):
        data = super().clean()
        data["decision"] = data.get("decision") or self.APPROVE
        if data.get("decision") == self.REJECT and not data.get("reason"):
            self.add_error("reason", gettext("Choose why this product is rejected."))
        return data


class ApproveForm:
    """The Approve page's form: one ``ItemDecision`` per item that goes on, and the reviewer's reason
    (``confirmation``) when an approved item is one another partner already has awaiting the customer or official
    (``contested``: {item id: competitors}, ``claims.selectors.competition.contested_items``)."""

    def __init__(self, data=None, *, items, contested):
        self.items = [ItemDecision(data, item=item, contested=contested.get(item.pk, ())) for item in items]
        self.confirm = ConfirmForm(data)
        self.contested = contested
        self.is_bound = data is not None

    def is_valid(self):
        # Every form validated (not all() of a generator, which stops at the first invalid one): each shows its
        # errors, the missing confirmation too.
        results = [form.is_valid() for form in [*self.items, self.confirm]]
        if all(results[-1:]) and self.needs_confirmation and not self.confirm.cleaned_data["confirmation"]:
            self.confirm.add_error("confirmation", CONFIRMATION_REQUIRED)
            return False
        return all(results)

    @property
    def needs_confirmation(self):
        """Some approved item is contested (all of them until the form is sent)."""
        return any(form.contested and not form.rejected for form in self.items)

    @property
    def rejected_items(self):
        return {
            form.item.pk: (form.cleaned_data["reason"], form.cleaned_data["message"])
            for form in self.items
            if form.rejected
        }

    @property
    def errors(self):
        return any(form.errors for form in [*self.items, self.confirm])


CONFIRMATION_REQUIRED = _(
    "Another partner already has this product awaiting the customer or official. To approve it anyway, give the "
    "reason; otherwise reject the product."
)


class ConfirmForm(forms.Form):
    confirmation = forms.CharField(
        label=_("Reason to approve anyway"),
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        max_length=2000,
        required=False,
        help_text=_("Recorded in the claim's history, which its partner reads: never name the other partner."),
    )


class ReviewDecisionsMixin:
    """For ClaimAdmin: the decision pages (``approve_view``, ``request_information_view``, ``reject_view``), the list
    actions, and the rule book on the claim's page."""

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The decisions the page offers: the rule book's, for this claim and reviewer (no query: the claim is loaded).
        if obj is not None:
            context["rules"] = ClaimRules(obj, request.user)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def _claim_or_404(self, request, claim_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        claims = self.get_queryset(request).select_related("partner", "location", "tenant")
        return get_object_or_404(claims, pk=claim_id)

    def _decide(self, request, claims, rule, decide, done):
        """Run one decision per claim that the rule book allows (``rule``: its name in ClaimRules); a claim it
        refuses, or that someone else moved meanwhile, is reported, not an error."""
        moved, skipped, contested = 0, [], []
        for claim in claims:
            if getattr(ClaimRules(claim, request.user), rule):
                try:
                    decide(claim)
                    moved += 1
                    continue
                except ClaimStatusConflict:  # moved meanwhile: the compare-and-set of its transition found out
                    claim.refresh_from_db(fields=["status"])
                except ApprovalNeedsConfirmation:  # another partner has its items: its Approve page asks why
                    contested.append(claim.name)
                    continue
            skipped.append(f"{claim.name} ({claim.get_status_display()})")
        if contested:
            self.message_user(
                request,
                gettext(
                    "Not approved: another partner already has some of their products awaiting the customer or "
                    "official. Approve each from its own Approve page, with a reason: %(claims)s"
                )
                % {"claims": words_list(contested)},
                messages.WARNING,
            )
        if moved:
            self.message_user(
                request,
                ngettext("%(done)s: %(count)s claim.", "%(done)s: %(count)s claims.", moved)
                % {"done": done, "count": moved},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                gettext("Not changed, no longer in a status that allows it: %(claims)s")
                % {"claims": words_list(skipped)},
                messages.WARNING,
            )
        return moved

    def _form_page(self, request, *, title, form, claims, action=None, button, note=""):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "note": note,
            "form": form,
            "claims": claims,
            "action": action,
            "button": button,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            # A claim's own decision page (not a list action's): its breadcrumbs and Cancel lead back to it.
            "claim_page": claims[0] if action is None and len(claims) == 1 else None,
        }
        return TemplateResponse(request, "claims/_lifecycle_admin_action.html", context)

    def _refused(self, request, claim, rule):
        """The claim's page with the rule book's reason when it does not offer this decision (any more), else None."""
        decision = getattr(ClaimRules(claim, request.user), rule)
        if decision:
            return None
        self.message_user(request, decision.why_not, messages.WARNING)
        return redirect("admin:claims_claim_change", claim.pk)

    def approve_view(self, request, claim_id):
        """Approve, item by item (SPEC §8): each item approved or rejected with a reason; approving an item another
        partner already has awaiting the customer or official asks for a reason (``claim_approve``)."""
        claim = self._claim_or_404(request, claim_id)
        if refused := self._refused(request, claim, "approve"):
            return refused
        items = list(claim.items.going_on().select_related("product", "subscription").order_by("pk"))
        contested = contested_items(claim, items=items)
        form = ApproveForm(request.POST if request.method == "POST" else None, items=items, contested=contested)
        if request.method == "POST" and form.is_valid():
            try:
                claim_approve(
                    claim=claim,
                    user=request.user,
                    rejected_items=form.rejected_items,
                    confirmation=form.confirm.cleaned_data["confirmation"],
                )
            except ApprovalNeedsConfirmation as needed:  # another claim got there since the page was shown
                form = ApproveForm(request.POST, items=items, contested=needed.contested)
                form.is_valid()
            except ClaimStatusConflict:
                claim.refresh_from_db(fields=["status"])
                self.message_user(
                    request,
                    gettext("Not changed, no longer in a status that allows it: %(claims)s")
                    % {"claims": f"{claim.name} ({claim.get_status_display()})"},
                    messages.WARNING,
                )
                return redirect("admin:claims_claim_change", claim.pk)
            else:
                claim.refresh_from_db(fields=["status"])
                done = gettext("Approved") if claim.status == ClaimStatus.CUSTOMER_NOTIFIED else gettext("Rejected")
                self.message_user(
                    request,
                    ngettext("%(done)s: %(count)s claim.", "%(done)s: %(count)s claims.", 1)
                    % {"done": done, "count": 1},
                    messages.SUCCESS,
                )
                return redirect("admin:claims_claim_change", claim.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Approve “%(claim)s”") % {"claim": claim.name},
            "original": claim,
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "admin/claims/claim/approve.html", context, status=400 if form.is_bound else 200
        )

    def request_information_view(self, request, claim_id):
        claim = self._claim_or_404(request, claim_id)
        if request.method != "POST" and (refused := self._refused(request, claim, "request_information")):
            return refused
        form = InformationRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._decide(
                request,
                [claim],
                "request_information",
                lambda c: claim_request_information(claim=c, user=request.user, **form.cleaned_data),
                gettext("Asked for more information"),
            )
            return redirect("admin:claims_claim_change", claim.pk)
        return self._form_page(
            request,
            title=gettext("Request more information on “%(claim)s”") % {"claim": claim.name},
            form=form,
            claims=[claim],
            button=gettext("Send"),
        )

    def reject_view(self, request, claim_id):
        claim = self._claim_or_404(request, claim_id)
        if request.method != "POST" and (refused := self._refused(request, claim, "reject")):
            return refused
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._decide(
                request,
                [claim],
                "reject",
                lambda c: claim_reject(claim=c, user=request.user, **form.cleaned_data),
                gettext("Rejected"),
            )
            return redirect("admin:claims_claim_change", claim.pk)
        return self._form_page(
            request,
            title=gettext("Reject “%(claim)s”") % {"claim": claim.name},
            form=form,
            claims=[claim],
            button=gettext("Reject"),
            note=rejection_final_note([claim]),
        )

    # The same decisions as list actions.

    @admin.action(description=_("Approve and notify the customer"), permissions=["change"])
    def approve_selected(self, request, queryset):
        self._decide(
            request,
            queryset.order_by("pk"),
            "approve",
            lambda c: claim_approve(claim=c, user=request.user),
            gettext("Approved"),
        )

    def _action_with_form(self, request, queryset, *, form_class, decide, done, title, action, button, note=None):
        form = form_class(request.POST if "apply" in request.POST else None)
        rule = {"request_information_selected": "request_information", "reject_selected": "reject"}[action]
        if "apply" in request.POST and form.is_valid():
            self._decide(request, queryset.order_by("pk"), rule, lambda c: decide(c, form.cleaned_data), done)
            return None
        claims = list(queryset.order_by("pk"))
        return self._form_page(
            request,
            title=title,
            form=form,
            claims=claims,
            action=action,
            button=button,
            note=note(claims) if note else "",
        )

    @admin.action(description=_("Request more information"), permissions=["change"])
    def request_information_selected(self, request, queryset):
        return self._action_with_form(
            request,
            queryset,
            form_class=InformationRequestForm,
            decide=lambda c, data: claim_request_information(claim=c, user=request.user, **data),
            done=gettext("Asked for more information"),
            title=gettext("Request more information"),
            action="request_information_selected",
            button=gettext("Send"),
        )

    @admin.action(description=_("Reject"), permissions=["change"])
    def reject_selected(self, request, queryset):
        return self._action_with_form(
            request,
            queryset,
            form_class=RejectForm,
            decide=lambda c, data: claim_reject(claim=c, user=request.user, **data),
            done=gettext("Rejected"),
            title=gettext("Reject claims"),
            action="reject_selected",
            button=gettext("Reject"),
            note=rejection_final_note,
        )
