from django.contrib import admin

from claims.models import Claim, ClaimEvent, ClaimItem, EmailNotification, PendingUpload, PoeDocument


class ClaimItemInline(admin.TabularInline):
    model = ClaimItem
    extra = 0
    can_delete = False
    fields = ["program", "product", "subscription", "competing", "association"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class PoeDocumentInline(admin.TabularInline):
    model = PoeDocument
    extra = 0
    can_delete = False
    fields = ["original_name", "content_type", "size", "uploaded_at", "in_response"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ClaimEventInline(admin.TabularInline):
    model = ClaimEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "actor", "user", "action", "old_status", "new_status", "reason", "message"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "partner",
        "location",
        "domain",
        "solution_area",
        "status",
        "competing",
        "submitted_at",
        "opt_out_deadline",
    ]
    list_filter = ["status", "solution_area", "items__program", "competing", "opt_out_deadline"]
    list_select_related = ["partner", "location"]
    search_fields = ["name", "location__mpn_id", "=directory_id", "domain"]
    date_hierarchy = "submitted_at"
    inlines = [ClaimItemInline, PoeDocumentInline, ClaimEventInline]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ClaimEvent)
class ClaimEventAdmin(admin.ModelAdmin):
    list_display = ["claim", "created_at", "actor", "user", "action", "old_status", "new_status"]
    list_filter = ["actor", "action", "new_status"]
    list_select_related = ["claim", "user"]
    search_fields = ["claim__name", "message"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(EmailNotification)
class EmailNotificationAdmin(admin.ModelAdmin):
    list_display = ["claim", "kind", "state", "attempts", "created_at", "sent_at"]
    list_filter = ["kind", "state"]
    list_select_related = ["claim"]
    readonly_fields = ["claim", "kind", "association", "created_at", "attempts", "sent_at", "last_error"]


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
