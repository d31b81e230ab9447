"""The outbox in admin (SPEC §14): failed and stuck emails first, with Send again and Mark as sent. Rows change only
through the notification services. Registered when ``claims.admin`` (the package) imports this module."""

from django.contrib import admin, messages
from django.template.loader import render_to_string
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from claims.models import EmailNotification
from claims.selectors import claims_for_reviewers, notice_delivery
from claims.services import email_notifications_mark_sent, email_notifications_send_again


class NoticeDeliveryAdminMixin:
    """The claim page's "customer's notice": where the notice stands (SPEC §6: the opt-out window starts when it
    is delivered), read from its outbox row."""

    @admin.display(description=_("customer's notice"))
    def notice_delivery_display(self, claim):
        notice = notice_delivery(claim)
        return "-" if notice is None else render_to_string("claims/_notice_delivery.html", {"notice": notice})


class EmailDeliveryFilter(admin.SimpleListFilter):
    """The outbox opens on the emails that need a person: failed (a permanent refusal, or about three days of
    transient failures), or stuck in "sending" (a worker died mid-send). "All" lists every row."""

    title = _("delivery")
    parameter_name = "delivery"
    DEFAULT = "attention"

    def lookups(self, request, model_admin):
        return [
            ("attention", _("Needs attention (failed or stuck in sending)")),
            ("retrying", _("Waiting to retry")),
            ("all", _("All")),
        ]

    def value(self):
        return super().value() or self.DEFAULT

    def choices(self, changelist):
        # No "All" entry for "no parameter" (that is the default view); "All" is a lookup of its own.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        state = EmailNotification.State
        if self.value() == "attention":
            return queryset.filter(state__in=[state.FAILED, state.SENDING])
        if self.value() == "retrying":
            return queryset.filter(state=state.PENDING, attempts__gt=0)
        return queryset


@admin.register(EmailNotification)
class EmailNotificationAdmin(admin.ModelAdmin):
    """The outbox, opening on the emails that need a person. A pending row is sent when it is due (its next
    attempt); a row left in "sending" (a worker died mid-send) is never resent automatically: check the mail log,
    then mark it sent or send it again here. Rows change only through the notification services."""

    list_display = [
        "claim",
        "address",
        "kind",
        "state",
        "attempts",
        "next_attempt",
        "last_error_short",
        "created_at",
        "sent_at",
    ]
    list_filter = [EmailDeliveryFilter, "state", "kind"]
    list_select_related = ["claim"]
    search_fields = ["claim__name", "address", "message_id"]
    readonly_fields = [
        "claim",
        "kind",
        "association",
        "user",
        "address",
        "state",
        "created_at",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "message_id",
        "last_error",
    ]
    actions = ["requeue_selected", "mark_sent_selected"]

    def has_add_permission(self, request):
        return False

    def get_queryset(self, request):
        return claims_for_reviewers(super().get_queryset(request))  # no draft's emails: reviewers never see drafts

    @admin.display(description=_("next attempt"), ordering="next_attempt_at")
    def next_attempt(self, obj):
        return obj.next_attempt_at if obj.state == EmailNotification.State.PENDING else "-"

    @admin.display(description=_("last error"))
    def last_error_short(self, obj):
        return obj.last_error if len(obj.last_error) <= 120 else f"{obj.last_error[:119]}…"

    @admin.action(
        description=_("Send again (failed, stuck in sending, or now instead of at the next attempt)"),
        permissions=["change"],
    )
    def requeue_selected(self, request, queryset):
        queued = email_notifications_send_again(notification_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            gettext("%(count)s email(s) queued again.") % {"count": queued},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Mark as sent (rows stuck in sending that the mail log shows delivered)"),
        permissions=["change"],
    )
    def mark_sent_selected(self, request, queryset):
        marked = email_notifications_mark_sent(notification_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            gettext("%(count)s email(s) marked as sent.") % {"count": marked},
            messages.SUCCESS,
        )
