"""The reviewers' tool (SPEC §8): claim list with filters and search, a read-only claim page, and the actions
Approve, Request more information and Reject, on the list and as buttons on the claim page. Which of them a claim
offers is the rule book's answer (``claims.policy.ClaimRules``: ``approve``, ``request_information``, ``reject``),
read by the claim page's buttons, the decision pages and the list actions alike. Every action calls the same
services as everything else (``claims.services``) and so writes a ClaimEvent with the reviewer; a disputed claim
gets the same three (its page's Dispute section: ``claims.admin.disputes``).
"""

import datetime

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from associations.models import Program
from claims.admin.compare import ArbitrationAdminMixin
from claims.admin.decisions import ReviewDecisionsMixin
from claims.admin.disputes import (
    DISPUTE_READONLY_FIELDS,
    DisputeAdminMixin,
)
from claims.admin.outbox import NoticeDeliveryAdminMixin
from claims.admin.queue import (
    CompetingFilter,
    QueueFilter,
    ReviewQueueMixin,
    SolutionAreaFilter,
)
from claims.admin.review_page import ReviewPageMixin
from claims.models import (
    Claim,
    ClaimEvent,
    ClaimItem,
    ClaimStatus,
    PendingUpload,
    PoeDocument,
)
from claims.reasons import reason_display
from claims.selectors import claims_for_reviewers
from claims.storage import poe_download_response
from claims.templatetags.history import REVIEWERS, history_actor, history_reason, history_what


class ProgramFilter(admin.SimpleListFilter):
    title = _("program")
    parameter_name = "program"

    def lookups(self, request, model_admin):
        return Program.choices

    def queryset(self, request, queryset):
        if self.value() in Program.values:
            # EXISTS, not a join: a claim with two items of the program is listed once.
            return queryset.filter(Exists(ClaimItem.objects.filter(claim=OuterRef("pk"), program=self.value())))
        return queryset


class StatusFilter(admin.ChoicesFieldListFilter):
    title = _("status")
    """The status filter without ``draft`` and ``expired``: reviewers never see a partner's unfinished work."""

    def choices(self, changelist):
        hidden = {
            changelist.get_query_string({self.lookup_kwarg: status}, [self.lookup_kwarg_isnull])
            for status in ClaimStatus.never_submitted()
        }
        return (choice for choice in super().choices(changelist) if choice["query_string"] not in hidden)


class DeadlineFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return [
            ("opt_out_48h", _("Opt-out window closes within 48 hours")),
            ("opt_out_passed", _("Opt-out window passed, not yet official")),
            ("response_48h", _("Partner answer due within 48 hours")),
            ("response_passed", _("Partner answer overdue")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        soon = now + datetime.timedelta(hours=48)
        notified = {"status": ClaimStatus.CUSTOMER_NOTIFIED}
        waiting = {"status": ClaimStatus.ACTION_REQUIRED}
        return {
            "opt_out_48h": lambda: queryset.filter(**notified, opt_out_deadline__gte=now, opt_out_deadline__lt=soon),
            "opt_out_passed": lambda: queryset.filter(**notified, opt_out_deadline__lt=now),
            "response_48h": lambda: queryset.filter(**waiting, response_deadline__gte=now, response_deadline__lt=soon),
            "response_passed": lambda: queryset.filter(**waiting, response_deadline__lt=now),
        }.get(self.value(), lambda: queryset)()


class ActionFilter(admin.SimpleListFilter):
    """What happened, by its label (the action column has no choices: claims.models.ClaimEvent.Action)."""

    title = _("action")
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return ClaimEvent.Action.choices

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() in ClaimEvent.Action.values else queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Claim)
class ClaimAdmin(
    ArbitrationAdminMixin,
    ReviewQueueMixin,
    ReviewPageMixin,
    ReviewDecisionsMixin,
    DisputeAdminMixin,
    NoticeDeliveryAdminMixin,
    admin.ModelAdmin,
):
    list_filter = [
        QueueFilter,
        ("status", StatusFilter),
        ProgramFilter,
        ("solution_area", SolutionAreaFilter),
        CompetingFilter,
        DeadlineFilter,
    ]
    show_full_result_count = False
    actions = ["approve_selected", "request_information_selected", "reject_selected"]
    fieldsets = [
        (None, {"fields": ["name", "status", "competing", "rejection_reasons_display"]}),
        (
            _("Partner"),
            {"fields": ["partner", "location", "created_by", "partner_contact_name", "partner_contact_email"]},
        ),
        (_("Customer"), {"fields": ["domain", "directory_id", "tenant", "solution_area", "activities_display"]}),
        (
            _("Customer contacts"),
            {
                "fields": [
                    "customer_contact_name",
                    "customer_contact_title",
                    "customer_contact_email",
                    "technical_contact_name",
                    "technical_contact_title",
                    "technical_contact_email",
                    "notice_delivery_display",
                ]
            },
        ),
        (
            _("Revenue association"),
            {"fields": ["dynamics_seller_name", "customer_name", "isv_solution_name"], "classes": ["collapse"]},
        ),
        (_("Comments"), {"fields": ["comments"]}),
        (
            _("Dates"),
            {
                "fields": [
                    "submitted_at",
                    "status_changed_at",
                    "customer_notified_at",
                    "opt_out_deadline",
                    "response_deadline",
                ]
            },
        ),
    ]

    @admin.display(description=_("MPN ID"), ordering="location__mpn_id")
    def mpn_id(self, claim):
        return claim.location.mpn_id

    @admin.display(description=_("competing"), boolean=True, ordering="competing")
    def competing_flag(self, claim):
        return claim.competing

    @admin.display(description=_("activity"))
    def activities_display(self, claim):
        return claim.get_activities_display()

    @admin.display(description=_("rejection reasons"))
    def rejection_reasons_display(self, claim):
        if not claim.rejection_reasons:
            return "-"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((reason_display(r),) for r in claim.rejection_reasons))
        )

    def get_queryset(self, request):
        # A draft (or a draft that expired) is the partner's unfinished work (SPEC §12): reviewers see a claim once
        # it is submitted. The list, its filters and counts, the claim page and the decision pages all read claims
        # through here.
        # The list's products column is its own (claims.admin.queue.QueueChangeList): the claim page, the decision
        # pages and the list's actions do without it.
        return claims_for_reviewers(super().get_queryset(request)).select_related("partner", "location", "tenant")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields] + [
            "activities_display",
            "notice_delivery_display",
            "rejection_reasons_display",
            *DISPUTE_READONLY_FIELDS,
        ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # The claim page: read only, with the three decisions as buttons.

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:claim_id>/approve/", view(self.approve_view), name="claims_claim_approve"),
            path(
                "<int:claim_id>/request-information/",
                view(self.request_information_view),
                name="claims_claim_request_information",
            ),
            path("<int:claim_id>/reject/", view(self.reject_view), name="claims_claim_reject"),
            path("<int:claim_id>/poe/<int:document_id>/", view(self.poe_view), name="claims_claim_poe"),
            *super().get_urls(),
        ]

    def poe_view(self, request, claim_id, document_id):
        """A POE file through a short-lived link (S3: presigned, POE_LINK_SECONDS), always as an attachment."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        document = get_object_or_404(claims_for_reviewers(PoeDocument.objects.all()), claim_id=claim_id, pk=document_id)
        return poe_download_response(document)


@admin.register(ClaimEvent)
class ClaimEventAdmin(admin.ModelAdmin):
    # In the words of the claim's page (claims.templatetags.history), never the stored codes.
    list_display = ["claim", "created_at", "who_display", "what_display", "old_status", "new_status", "reason_display"]
    list_filter = ["actor", ActionFilter, ("new_status", StatusFilter)]
    list_select_related = ["claim", "user"]
    search_fields = ["claim__name", "message"]

    @admin.display(description=_("who"), ordering="actor")
    def who_display(self, event):
        return history_actor(event, REVIEWERS)

    @admin.display(description=_("action"), ordering="action")
    def what_display(self, event):
        return history_what(event, REVIEWERS)

    @admin.display(description=_("reason"))
    def reason_display(self, event):
        return history_reason(event) if event.reason else ""

    def get_queryset(self, request):
        # The history of submitted claims only: an expired draft's event is the partner's unfinished work too.
        return claims_for_reviewers(super().get_queryset(request))

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    # History is evidence (SPEC §14): nobody deletes it here, superusers included.
    has_delete_permission = ReadOnlyInline.has_change_permission


@admin.register(PendingUpload)
class PendingUploadAdmin(admin.ModelAdmin):
    list_display = ["original_name", "partner", "user", "size", "created_at"]
    list_select_related = ["partner", "user"]
    readonly_fields = [
        "partner",
        "user",
        "wizard_key",
        "file",
        "original_name",
        "content_type",
        "size",
        "sha256",
        "created_at",
    ]

    def has_add_permission(self, request):
        # Every field is read-only: an "add" saved an empty row (a 500 on its NOT NULL columns). Files arrive
        # through the wizard and the partner's answer only.
        return False


@admin.register(PoeDocument)
class PoeDocumentAdmin(admin.ModelAdmin):
    list_display = ["original_name", "claim", "content_type", "size", "uploaded_at"]
    list_select_related = ["claim"]
    search_fields = ["claim__name", "original_name"]
    readonly_fields = [
        "claim",
        "file",
        "original_name",
        "content_type",
        "size",
        "sha256",
        "uploaded_at",
        "uploaded_by",
        "in_response",
    ]
    # POE is evidence (SPEC §14): it comes with a claim or an answer, never by hand, and nobody deletes it here.
    has_add_permission = has_delete_permission = ReadOnlyInline.has_change_permission

    def get_queryset(self, request):
        return claims_for_reviewers(super().get_queryset(request))  # as ClaimAdmin's
