"""The reviewer's decisions in admin (SPEC §8, §12): Approve, Request more information and Reject, as buttons on a
claim's page (each with its page) and as list actions. Which decisions a claim offers is the rule book's answer
(``claims.policy.ClaimRules``: ``approve``, ``request_information``, ``reject``): the claim page's buttons read it
(``render_change_form``), a decision page refuses what it does not allow, and the list actions skip those claims.
Each decision calls the same service as everything else (``claims.services``).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from associations.wording import words_list
from claims.admin.disputes import rejection_final_note
from claims.models import REVIEWER_REJECTION_REASONS, InformationReason
from claims.policy import ClaimRules
from claims.services import ClaimStatusConflict, claim_approve, claim_reject, claim_request_information


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
        moved, skipped = 0, []
        for claim in claims:
            if getattr(ClaimRules(claim, request.user), rule):
                try:
                    decide(claim)
                    moved += 1
                    continue
                except ClaimStatusConflict:  # moved meanwhile: the compare-and-set of its transition found out
                    claim.refresh_from_db(fields=["status"])
            skipped.append(f"{claim.name} ({claim.get_status_display()})")
        if moved:
            self.message_user(
                request, gettext("%(done)s: %(count)s claim(s).") % {"done": done, "count": moved}, messages.SUCCESS
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
        claim = self._claim_or_404(request, claim_id)
        if request.method != "POST" and (refused := self._refused(request, claim, "approve")):
            return refused
        if request.method == "POST":
            self._decide(
                request, [claim], "approve", lambda c: claim_approve(claim=c, user=request.user), gettext("Approved")
            )
            return redirect("admin:claims_claim_change", claim.pk)
        return self._form_page(
            request,
            title=gettext("Approve “%(claim)s”") % {"claim": claim.name},
            form=None,
            claims=[claim],
            button=gettext("Approve and notify customer"),
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
