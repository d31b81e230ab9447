"""Partners, customers' tenants, the product catalog and official partner-of-record associations.

Nothing here knows about claims: ``claims`` builds on these models, never the other way round.
"""

from functools import cached_property

import pytz
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from associations.validators import validate_domain_name, validate_mpn_id
from associations.zones import country_time_zone


class SolutionArea(models.TextChoices):
    MICROSOFT_365 = "microsoft_365", _("Microsoft 365")
    BUSINESS_APPLICATIONS = "business_applications", _("Business Applications")


class Activity(models.TextChoices):
    USAGE = "usage", _("Usage")
    PRE_SALES = "pre_sales", _("Pre-sales")
    REVENUE_ASSOCIATION = "revenue_association", _("Revenue association")


class Program(models.TextChoices):
    OSU_M365 = "osu_m365", _("OSU-Microsoft 365")
    OSU_BIZAPPS = "osu_bizapps", _("OSU-Business Applications")
    OSA_SELL = "osa_sell", _("OSA Sell")
    REVENUE_ASSOCIATION = "revenue_association", _("Revenue association")


# Which program each (solution area, activity) counts for (SPEC §2).
PROGRAM_FOR_ACTIVITY = {
    (SolutionArea.MICROSOFT_365, Activity.USAGE): Program.OSU_M365,
    (SolutionArea.BUSINESS_APPLICATIONS, Activity.USAGE): Program.OSU_BIZAPPS,
    (SolutionArea.BUSINESS_APPLICATIONS, Activity.PRE_SALES): Program.OSA_SELL,
    (SolutionArea.BUSINESS_APPLICATIONS, Activity.REVENUE_ASSOCIATION): Program.REVENUE_ASSOCIATION,
}

COUNTRY_CHOICES = sorted(pytz.country_names.items(), key=lambda item: item[1])


class Partner(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]

    def __str__(self):
        return self.name


class PartnerLocation(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="locations")
    mpn_id = models.CharField(_("MPN ID"), max_length=10, unique=True, validators=[validate_mpn_id])
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, choices=COUNTRY_CHOICES)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("partner location")
        verbose_name_plural = _("partner locations")
        ordering = ["mpn_id"]

    def __str__(self):
        return f"{self.mpn_id} · {self.name}"


class Membership(models.Model):
    """A user's place in one partner organisation, and what they may do there."""

    class Role(models.TextChoices):
        INCENTIVES_ADMIN = "incentives_admin", _("Incentives admin")
        INCENTIVES_USER = "incentives_user", _("Incentives user")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.INCENTIVES_USER)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self):
        return f"{self.user} @ {self.partner} ({self.get_role_display()})"

    @property
    def can_manage_claims(self):
        return self.role == self.Role.INCENTIVES_ADMIN


class UserPreference(models.Model):
    """What a user chose for themselves: their language and time zone, remembered across sign-outs and browsers
    (SPEC §15). Empty: not chosen yet (the time zone is first guessed from the browser at sign-in).

    A model of its own rather than a field on Membership: reviewers have no membership."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES, blank=True)
    # An IANA zone key (associations.zones.time_zone_valid); never shown as such: pages name it by its city.
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)

    def __str__(self):
        return f"{self.user}: {self.language}"


class Tenant(models.Model):
    """A customer's directory (Microsoft Entra tenant)."""

    directory_id = models.UUIDField(_("Directory ID"), unique=True)
    name = models.CharField(_("display name"), max_length=200)
    country = models.CharField(max_length=2, choices=COUNTRY_CHOICES)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("customer tenant")
        verbose_name_plural = _("customer tenants")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def time_zone(self):
        """The country's main time zone (``associations.zones.country_time_zone``)."""
        return country_time_zone(self.country)

    @property
    def language(self):
        """The language of the customer's emails and page (SPEC §15): Traditional Chinese for Taiwan, else English."""
        return "zh-hant" if self.country == "TW" else "en"

    @cached_property
    def primary_domain(self):
        domains = sorted(self.domains.all(), key=lambda d: (not d.is_initial, d.name))
        return domains[0].name if domains else ""


class TenantDomain(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="domains")
    name = models.CharField(max_length=253, unique=True, validators=[validate_domain_name])
    is_initial = models.BooleanField(default=False, help_text=_("The tenant's .onmicrosoft.com domain."))

    class Meta:
        verbose_name = _("tenant domain")
        verbose_name_plural = _("tenant domains")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Product(models.Model):
    """A claimable Microsoft 365 workload or Business Applications product."""

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120, unique=True)
    solution_area = models.CharField(max_length=30, choices=SolutionArea.choices, db_index=True)
    is_dynamics = models.BooleanField(default=False)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["solution_area", "sort_order", "name"]

    def __str__(self):
        return self.name


class TenantLicense(models.Model):
    """A tenant holds a licence for a Microsoft 365 workload: the tenant "has" that workload."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="licenses")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="licenses")
    seats = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("tenant licence")
        verbose_name_plural = _("tenant licences")
        constraints = [models.UniqueConstraint(fields=["tenant", "product"], name="tenantlicense_unique")]

    def __str__(self):
        return f"{self.tenant}: {self.product}"


class SubscriptionQuerySet(models.QuerySet):
    def active(self, on=None):
        on = on or timezone.localdate()
        return self.filter(state=Subscription.State.ACTIVE, start_date__lte=on).filter(
            Q(end_date__isnull=True) | Q(end_date__gte=on)
        )


class Subscription(models.Model):
    """A tenant's subscription to a Business Applications product."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        EXPIRED = "expired", _("Expired")

    subscription_id = models.UUIDField(_("subscription ID"), unique=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="subscriptions")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="subscriptions")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACTIVE)
    seats = models.PositiveIntegerField(default=0)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["start_date"]
        indexes = [models.Index(fields=["tenant", "product"], name="subscription_tenant_product")]

    def __str__(self):
        return f"{self.product} · {self.subscription_id}"

    def is_active_on(self, day):
        return (
            self.state == self.State.ACTIVE
            and self.start_date <= day
            and (self.end_date is None or self.end_date >= day)
        )


class AssociationQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status=Association.Status.ACTIVE)


class Association(models.Model):
    """An official partner-of-record link for one item key.

    The item key is (``osu_m365``, tenant, workload) for Microsoft 365 and (program, subscription) for the
    others. PostgreSQL enforces at most one active association per key.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        # Imported Microsoft 365 associations from before CPOR: kept for the record, but they do not count
        # until the partner re-associates through a claim (SPEC §5).
        LEGACY = "legacy", _("Legacy (not counted)")
        ENDED = "ended", _("Ended")

    class Source(models.TextChoices):
        CLAIM = "claim", _("Claim")
        IMPORTED = "imported", _("Imported")

    class EndReason(models.TextChoices):
        DISASSOCIATED = "disassociated", _("The partner disassociated")
        REPLACED = "replaced", _("Another partner's claim replaced it")
        SUBSCRIPTION_ENDED = "subscription_ended", _("The subscription ended")
        REASSOCIATED = "reassociated", _("Re-associated through a claim")
        CUSTOMER_DECLINED = "customer_declined", _("The customer ended it")

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="associations")
    location = models.ForeignKey(PartnerLocation, on_delete=models.PROTECT, related_name="associations")
    program = models.CharField(max_length=30, choices=Program.choices)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="associations")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="associations")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, null=True, blank=True, related_name="associations"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CLAIM)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=30, choices=EndReason.choices, blank=True)
    end_message = models.TextField(blank=True)

    objects = AssociationQuerySet.as_manager()

    class Meta:
        verbose_name = _("association")
        verbose_name_plural = _("associations")
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "product"],
                condition=Q(status="active", program="osu_m365"),
                name="association_one_active_m365_workload",
                violation_error_message=_("This workload is already associated with a partner."),
            ),
            models.UniqueConstraint(
                fields=["program", "subscription"],
                condition=Q(status="active", subscription__isnull=False),
                name="association_one_active_subscription_program",
                violation_error_message=_("This subscription is already associated with a partner."),
            ),
            models.CheckConstraint(
                condition=Q(program="osu_m365", subscription__isnull=True)
                | (~Q(program="osu_m365") & Q(subscription__isnull=False)),
                name="association_item_key_shape",
            ),
            models.CheckConstraint(
                condition=Q(status="ended", ended_at__isnull=False) | (~Q(status="ended") & Q(ended_at__isnull=True)),
                name="association_ended_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "status"], name="association_partner_status"),
            models.Index(fields=["tenant", "status"], name="association_tenant_status"),
            models.Index(
                fields=["subscription"],
                condition=Q(status="active", source="imported"),
                name="association_imported_active",
            ),
        ]

    def __str__(self):
        return f"{self.partner} · {self.get_program_display()} · {self.product} · {self.tenant}"


class UsageRecord(models.Model):
    """One month of a tenant's usage of one product: monthly active users and paid units."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="usage_records")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="usage_records")
    month = models.DateField(help_text=_("The first day of the month."))
    active_users = models.PositiveIntegerField()
    paid_units = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("usage record")
        verbose_name_plural = _("usage records")
        ordering = ["month"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "product", "month"], name="usagerecord_unique_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="usagerecord_month_first_day"),
        ]

    def __str__(self):
        return f"{self.tenant} · {self.product} · {self.month:%Y-%m}"
