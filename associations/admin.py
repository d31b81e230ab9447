from django.contrib import admin

from associations.models import (
    Association,
    Membership,
    Partner,
    PartnerLocation,
    Product,
    Subscription,
    Tenant,
    TenantDomain,
    TenantLicense,
    UsageRecord,
)


class PartnerLocationInline(admin.TabularInline):
    model = PartnerLocation
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name", "locations__mpn_id"]
    inlines = [PartnerLocationInline, MembershipInline]


@admin.register(PartnerLocation)
class PartnerLocationAdmin(admin.ModelAdmin):
    list_display = ["mpn_id", "name", "partner", "country", "is_active"]
    list_filter = ["is_active", "country"]
    list_select_related = ["partner"]
    search_fields = ["mpn_id", "name", "partner__name"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "partner", "role"]
    list_filter = ["role", "partner"]
    list_select_related = ["user", "partner"]
    search_fields = ["user__username", "user__email", "partner__name"]
    raw_id_fields = ["user"]


class TenantDomainInline(admin.TabularInline):
    model = TenantDomain
    extra = 0


class TenantLicenseInline(admin.TabularInline):
    model = TenantLicense
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "directory_id", "country"]
    list_filter = ["country"]
    search_fields = ["name", "directory_id", "domains__name"]
    inlines = [TenantDomainInline, TenantLicenseInline]


@admin.register(TenantDomain)
class TenantDomainAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "is_initial"]
    list_select_related = ["tenant"]
    search_fields = ["name", "tenant__name"]


@admin.register(TenantLicense)
class TenantLicenseAdmin(admin.ModelAdmin):
    list_display = ["tenant", "product", "seats"]
    list_filter = ["product"]
    list_select_related = ["tenant", "product"]
    search_fields = ["tenant__name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "solution_area", "is_dynamics", "sort_order"]
    list_filter = ["solution_area", "is_dynamics"]
    search_fields = ["name", "code"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["subscription_id", "tenant", "product", "state", "start_date", "end_date"]
    list_filter = ["state", "product"]
    list_select_related = ["tenant", "product"]
    search_fields = ["subscription_id", "tenant__name", "tenant__directory_id"]
    date_hierarchy = "start_date"


@admin.register(Association)
class AssociationAdmin(admin.ModelAdmin):
    list_display = [
        "partner",
        "location",
        "program",
        "tenant",
        "product",
        "subscription",
        "status",
        "source",
        "started_at",
    ]
    list_filter = ["status", "source", "program"]
    list_select_related = ["partner", "location", "tenant", "product", "subscription"]
    search_fields = ["partner__name", "location__mpn_id", "tenant__name", "tenant__directory_id"]
    raw_id_fields = ["partner", "location", "tenant", "product", "subscription"]
    date_hierarchy = "started_at"

    # Associations are made by finalization and ended by the disassociate service (SPEC §5, §8), each with its
    # history; one created or deleted by hand would have none. Superusers included.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = ["tenant", "product", "month", "active_users", "paid_units"]
    list_filter = ["product"]
    list_select_related = ["tenant", "product"]
    search_fields = ["tenant__name"]
    date_hierarchy = "month"
