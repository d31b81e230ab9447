"""The wizard's step forms (SPEC §4). They validate and clean; they never write. The claim page's forms (the
partner's answer, disassociate) are in ``claims.forms.answer``."""

from django import forms
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from associations.models import Activity, PartnerLocation, Product, SolutionArea, Tenant, TenantDomain
from associations.validators import (
    email_domain_within,
    normalize_domain,
    parse_guid,
    validate_domain_name,
    validate_single_line,
)
from associations.wording import words_list
from claims.models import BusinessAppsActivity, PendingUpload
from claims.selectors import Availability, product_availability, tenant_products
from claims.uploads import POE_RULES


class LocationChoiceIterator(forms.models.ModelChoiceIterator):
    def __iter__(self):
        # A partner has a handful of locations: one plain query. ModelChoiceIterator uses queryset.iterator(),
        # which on PostgreSQL opens a server-side cursor (DECLARE ... WITH HOLD, FETCH, CLOSE: three round trips
        # and a materialised result): measured as the slowest statement of the customer step.
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class LocationChoiceField(forms.ModelChoiceField):
    iterator = LocationChoiceIterator

    def label_from_instance(self, obj):
        return f"{obj.mpn_id} · {obj.name}"


class CustomerForm(forms.Form):
    """Step 1: the partner's MPN ID and the customer's domain name and Directory ID."""

    location = LocationChoiceField(
        label=_("MPN ID"),
        queryset=PartnerLocation.objects.none(),
        to_field_name="mpn_id",
        empty_label=_("Select an MPN ID"),
        error_messages={
            "required": _("Select the MPN ID of your location to associate with the customer."),
            "invalid_choice": _("This MPN ID is not one of your organization's active locations."),
        },
    )
    domain = forms.CharField(
        label=_("Customer's domain name"),
        max_length=253,
        help_text=_("For example contoso.onmicrosoft.com or contoso.com."),
        error_messages={"required": _("Enter the customer's domain name.")},
    )
    directory_id = forms.CharField(
        label=_("Directory ID"),
        max_length=40,
        help_text=_("The customer's Directory ID or Tenant ID, a GUID."),
        error_messages={"required": _("Enter the customer's Directory ID.")},
    )

    def __init__(self, *args, partner, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = PartnerLocation.objects.filter(partner=partner, is_active=True)

    def clean_domain(self):
        domain = normalize_domain(self.cleaned_data["domain"])
        validate_domain_name(domain)
        return domain

    def clean_directory_id(self):
        return parse_guid(self.cleaned_data["directory_id"])

    def clean(self):
        cleaned = super().clean()
        directory_id, domain = cleaned.get("directory_id"), cleaned.get("domain")
        if directory_id is None:
            return cleaned
        # One query: the tenant, whether the domain is one of its names, and all its names (the contacts step
        # checks the customer's addresses against them).
        tenant = (
            Tenant.objects.filter(directory_id=directory_id)
            .annotate(
                domain_matches=Exists(TenantDomain.objects.filter(tenant=OuterRef("pk"), name=domain or "")),
                domain_names=ArraySubquery(TenantDomain.objects.filter(tenant=OuterRef("pk")).values("name")),
            )
            .first()
        )
        if tenant is None:
            self.add_error(
                "directory_id",
                gettext("We don't know a customer with this Directory ID. Check it with your customer and try again."),
            )
        elif domain and not tenant.domain_matches:
            self.add_error("directory_id", gettext("This Directory ID does not match the domain name."))
        else:
            cleaned["tenant"] = tenant
        return cleaned


class ActivityForm(forms.Form):
    """Step 2: the solution area and the activity (Microsoft 365 offers only Usage)."""

    solution_area = forms.ChoiceField(
        label=_("Solution area"),
        choices=SolutionArea.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Select a solution area.")},
    )
    business_activity = forms.ChoiceField(
        label=_("Activity"),
        choices=BusinessAppsActivity.choices,
        widget=forms.RadioSelect,
        required=False,
    )
    usage = forms.BooleanField(label=_("Usage"), required=False)
    pre_sales = forms.BooleanField(label=_("Pre-sales"), required=False)

    def clean(self):
        cleaned = super().clean()
        area = cleaned.get("solution_area")
        business_activity = cleaned.get("business_activity")
        usage, pre_sales = cleaned.get("usage"), cleaned.get("pre_sales")
        if area == SolutionArea.MICROSOFT_365:
            if business_activity or pre_sales:
                self.add_error("business_activity", gettext("Microsoft 365 offers only Usage."))
            cleaned["activities"] = [Activity.USAGE]
        elif area == SolutionArea.BUSINESS_APPLICATIONS:
            if not business_activity:
                self.add_error("business_activity", gettext("Select Usage and/or Pre-sales, or Revenue association."))
            elif business_activity == BusinessAppsActivity.REVENUE_ASSOCIATION:
                if usage or pre_sales:
                    self.add_error(
                        "business_activity",
                        gettext("Revenue association is claimed alone, without Usage or Pre-sales."),
                    )
                cleaned["activities"] = [Activity.REVENUE_ASSOCIATION]
            elif not (usage or pre_sales):
                self.add_error("usage", gettext("Select Usage, Pre-sales or both."))
            else:
                cleaned["activities"] = [Activity.USAGE] * bool(usage) + [Activity.PRE_SALES] * bool(pre_sales)
        return cleaned


class AssociateForm(forms.Form):
    """Step 3, "Associate customer": the claim's name, and for Revenue association three more names."""

    name = forms.CharField(
        label=_("Name"),
        max_length=120,
        validators=[validate_single_line],
        help_text=_("A name for this claim, for your own reference."),
        error_messages={"required": _("Enter a name for this claim.")},
    )

    def __init__(self, *args, revenue_association=False, **kwargs):
        super().__init__(*args, **kwargs)
        if revenue_association:
            self.fields["dynamics_seller_name"] = forms.CharField(
                label=gettext("Dynamics solution seller name"),
                max_length=200,
                validators=[validate_single_line],
                error_messages={"required": gettext("Enter the Dynamics solution seller name.")},
            )
            self.fields["customer_name"] = forms.CharField(
                label=gettext("Customer name"),
                max_length=200,
                validators=[validate_single_line],
                error_messages={"required": gettext("Enter the customer name.")},
            )
            self.fields["isv_solution_name"] = forms.CharField(
                label=gettext("Name of ISV product/solution"),
                max_length=200,
                validators=[validate_single_line],
                error_messages={"required": gettext("Enter the name of the ISV product or solution.")},
            )


class ProductCheckboxes(forms.CheckboxSelectMultiple):
    """Checkboxes of which some are disabled: the partner's own items (held or pending), products not on the tenant."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.disabled_values = set()

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        if str(value) in self.disabled_values:
            option["attrs"]["disabled"] = True
        return option


class ProductsForm(forms.Form):
    """Step 4, "Product(s)": the solution area's products, each with its availability on this tenant.

    A Dynamics 365 product with several active subscriptions on the tenant also needs its subscription ID.
    """

    products = forms.MultipleChoiceField(
        label=_("Product(s)"),
        widget=ProductCheckboxes,
        error_messages={
            "required": _("Select at least one product."),
            "invalid_choice": _("This product is not offered for the selected solution area."),
        },
    )

    def __init__(self, *args, partner, tenant, solution_area, activities, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.solution_area = solution_area
        catalog = list(Product.objects.filter(solution_area=solution_area).order_by("sort_order", "name"))
        self.catalog = {product.pk: product for product in catalog}
        self.subscriptions, self.held_product_ids = tenant_products(
            tenant=tenant, solution_area=solution_area, products=catalog
        )
        by_product, by_subscription, self.own_claims = product_availability(
            partner=partner,
            tenant=tenant,
            solution_area=solution_area,
            activities=activities,
            products=[product for product in catalog if product.pk in self.held_product_ids],
            subscriptions=self.subscriptions,
        )
        self.availability = by_product
        self.by_subscription = by_subscription
        self.fields["products"].choices = [(str(product.pk), product.name) for product in catalog]
        # Shown but not pickable: the browser refuses them, clean_products refuses them again.
        self.fields["products"].widget.disabled_values = {
            str(product.pk)
            for product in catalog
            if self.availability.get(product.pk, Availability.NOT_ON_TENANT)
            in (*Availability.OWN, Availability.NOT_ON_TENANT)
        }
        self.multi_subscription_fields = {}
        for product in catalog:
            subscriptions = self.subscriptions.get(product.pk, [])
            if product.is_dynamics and len(subscriptions) > 1:
                name = f"subscription_{product.code}"
                self.fields[name] = forms.ChoiceField(
                    label=gettext("Subscription ID for %(product)s") % {"product": product.name},
                    choices=[("", gettext("Select a subscription"))]
                    + [
                        (
                            str(subscription.subscription_id),
                            gettext("%(subscription_id)s · since %(start)s · %(availability)s")
                            % {
                                "subscription_id": subscription.subscription_id,
                                "start": f"{subscription.start_date:%Y-%m-%d}",
                                "availability": Availability.label(
                                    by_subscription[subscription.pk],
                                    self.own_claims.get(("subscription", subscription.pk)),
                                ),
                            },
                        )
                        for subscription in subscriptions
                    ],
                    required=False,
                    error_messages={
                        "invalid_choice": gettext("This subscription does not belong to this customer's tenant.")
                    },
                )
                self.multi_subscription_fields[name] = product

    def product_options(self):
        """(checkbox, availability code, availability label, own claim id or None) for each product, for the
        template; the claim id links the partner's own holding or pending claim."""
        for option in self["products"]:
            product_id = int(option.data["value"])
            status = self.availability.get(product_id, Availability.NOT_ON_TENANT)
            claim = self.own_claims.get(product_id) if status in Availability.OWN else None
            yield option, status, Availability.label(status, claim), claim[0] if claim else None

    def subscription_fields(self):
        return [(self[name], product) for name, product in self.multi_subscription_fields.items()]

    def clean_products(self):
        products = [self.catalog[int(pk)] for pk in self.cleaned_data["products"]]
        missing = [product.name for product in products if product.pk not in self.held_product_ids]
        if missing:
            raise ValidationError(
                ngettext(
                    "%(products)s is not on this customer's tenant.",
                    "%(products)s are not on this customer's tenant.",
                    len(missing),
                ),
                code="not_on_tenant",
                params={"products": words_list(missing)},
            )
        own = [product.name for product in products if self.availability.get(product.pk) in Availability.OWN]
        if own:
            raise ValidationError(
                ngettext(
                    "%(products)s is already yours or pending in one of your claims on this tenant.",
                    "%(products)s are already yours or pending in your claims on this tenant.",
                    len(own),
                ),
                code="own",
                params={"products": words_list(own)},
            )
        return products

    def clean(self):
        cleaned = super().clean()
        chosen = {}
        for name, product in self.multi_subscription_fields.items():
            value = cleaned.get(name)
            selected = product in (cleaned.get("products") or [])
            if selected and not value and name not in self.errors:
                self.add_error(
                    name,
                    gettext("%(product)s has several subscriptions on this tenant: select one.")
                    % {"product": product.name},
                )
            if selected and value:
                subscription = next(s for s in self.subscriptions[product.pk] if str(s.subscription_id) == value)
                if self.by_subscription.get(subscription.pk) in Availability.OWN:
                    self.add_error(
                        name, gettext("This subscription is already yours or pending in one of your claims.")
                    )
                    continue
                chosen[product.pk] = subscription
        cleaned["subscriptions"] = chosen
        return cleaned


class ContactsForm(forms.Form):
    """Step 5: the customer's contact, the technical contact (Dynamics 365) and your company's contact.

    The customer's notice (with the opt-out link) goes to the customer contact and, for Dynamics 365, to the
    technical contact: their addresses must be at one of the tenant's domains or a subdomain of one (SPEC §5), so
    that the partner cannot send it to an inbox of its own choosing. Automatic validation checks the same again.
    """

    # Names and titles are one line each (associations.validators.validate_single_line): they reach the customer's
    # notice, where partner text must never read as a paragraph of its own (SPEC §7).
    customer_contact_name = forms.CharField(label=_("Contact name"), max_length=200, validators=[validate_single_line])
    customer_contact_title = forms.CharField(label=_("Title"), max_length=200, validators=[validate_single_line])
    customer_contact_email = forms.EmailField(label=_("Email"))
    partner_contact_name = forms.CharField(label=_("Contact name"), max_length=200, validators=[validate_single_line])
    partner_contact_email = forms.EmailField(label=_("Email"))

    REQUIRED = {
        "customer_contact_name": _("Enter the customer's contact name."),
        "customer_contact_title": _("Enter the customer contact's title."),
        "customer_contact_email": _("Enter the customer contact's email address."),
        "technical_contact_name": _("Enter the customer's technical contact name."),
        "technical_contact_title": _("Enter the technical contact's title."),
        "technical_contact_email": _("Enter the technical contact's email address."),
        "partner_contact_name": _("Enter your company's contact name."),
        "partner_contact_email": _("Enter your company's contact email address."),
    }

    # Fields whose address receives the customer's notice.
    AT_CUSTOMER = ("customer_contact_email", "technical_contact_email")

    def __init__(self, *args, needs_technical_contact=False, tenant=None, domain="", **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_technical_contact = needs_technical_contact
        # The tenant of step 1 (with its ``domain_names``) and the domain name the partner entered there.
        self.tenant_domains = getattr(tenant, "domain_names", None)
        self.domain = domain
        if needs_technical_contact:
            self.fields["technical_contact_name"] = forms.CharField(
                label=gettext("Technical contact name"), max_length=200, validators=[validate_single_line]
            )
            self.fields["technical_contact_title"] = forms.CharField(
                label=gettext("Title"), max_length=200, validators=[validate_single_line]
            )
            self.fields["technical_contact_email"] = forms.EmailField(label=gettext("Email"))
        for name, field in self.fields.items():
            field.error_messages["required"] = self.REQUIRED[name]
            if isinstance(field, forms.EmailField):
                field.error_messages["invalid"] = _("Enter a valid email address, like name@example.com.")
        if self.tenant_domains is not None and self.domain:
            for name in self.AT_CUSTOMER:
                if name in self.fields:
                    self.fields[name].help_text = gettext(
                        "An address at %(domain)s or another of the customer's domains, or a subdomain of one: the "
                        "customer's notice goes to it."
                    ) % {"domain": self.domain}

    def clean(self):
        cleaned = super().clean()
        if self.tenant_domains is None:
            return cleaned  # no customer yet (step 1 is checked again before anything is saved)
        for name in self.AT_CUSTOMER:
            email = cleaned.get(name)
            if email and not email_domain_within(email, self.tenant_domains):
                self.add_error(
                    name,
                    ValidationError(
                        gettext(
                            "Enter an address at the customer's domain (%(domain)s or a subdomain of one of its "
                            "domains): the customer's notice goes to this address."
                        ),
                        code="not_at_customer",
                        params={"domain": self.domain or gettext("the domain of step 1")},
                    ),
                )
        return cleaned

    def group(self, *names):
        return [self[name] for name in names if name in self.fields]

    def customer_fields(self):
        return self.group("customer_contact_name", "customer_contact_title", "customer_contact_email")

    def technical_fields(self):
        return self.group("technical_contact_name", "technical_contact_title", "technical_contact_email")

    def partner_fields(self):
        return self.group("partner_contact_name", "partner_contact_email")


class PoeForm(forms.Form):
    """Step 6: proof of execution. Files arrive through the upload endpoint or this step's own file input
    (the wizard stores them before validating); this form checks that this wizard run has some.
    """

    def __init__(self, *args, partner, wizard_key, **kwargs):
        super().__init__(*args, **kwargs)
        self.partner = partner
        self.wizard_key = wizard_key
        self.upload_errors = []

    def uploads(self):
        if not hasattr(self, "_uploads"):
            self._uploads = list(
                PendingUpload.objects.filter(partner=self.partner, wizard_key=self.wizard_key).order_by("created_at")
            )
        return self._uploads

    def clean(self):
        cleaned = super().clean()
        uploads = self.uploads()
        if self.upload_errors:
            raise ValidationError(self.upload_errors)
        if not uploads:
            raise ValidationError(gettext("Add at least one proof of execution file."), code="required")
        if len(uploads) > POE_RULES.max_files:
            raise ValidationError(
                gettext("You can upload at most %(max)s files. Remove one."),
                code="too_many",
                params={"max": POE_RULES.max_files},
            )
        cleaned["uploads"] = uploads
        return cleaned


class ReviewForm(forms.Form):
    """Step 7: optional comments, a review of everything, and Submit claim."""

    comments = forms.CharField(
        label=_("Comments"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Optional. Anything the reviewer should know about this claim."),
    )
