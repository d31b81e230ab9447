"""The wizard's steps over saved step data, outside a browser session: what the partner API and bulk import use to
validate a draft and submit it exactly as the wizard does (SPEC §16: no second implementation of any rule).

``step_form_kwargs`` is the one place that says what each step's form is built with (the wizard's
``get_form_kwargs`` calls it too): the customer step the partner, the products step the tenant and activities of
the steps before it, the contacts step the chosen products, the POE step the run's uploads.
"""

from associations.models import Activity, PartnerLocation, Product
from claims.forms.wizard import solution_area_catalog
from claims.policy import needs_technical_contact

# The wizard's steps in order, with their forms (``claims.wizard.STEPS`` is built from the same forms).
STEP_NAMES = ("customer", "activity", "associate", "products", "contacts", "poe", "review")


class StepLookups:
    """Reference data that the steps of many drafts of one partner may share instead of reading it once each: the
    partner's active locations, the product catalog. A bulk import makes one per chunk of rows (never one for two
    partners or two runs): a location deactivated or a product added meanwhile counts from the next chunk on.
    What changes with every claim (a tenant's claims and associations, the run's uploads) is never kept here."""

    def __init__(self, *, partner):
        self.partner = partner
        self._locations = None
        self._catalogs = {}
        self._products = None

    def locations(self):
        """{mpn_id: location} of the partner's active locations (what the customer step may pick)."""
        if self._locations is None:
            active = PartnerLocation.objects.filter(partner=self.partner, is_active=True)
            self._locations = {location.mpn_id: location for location in active}
        return self._locations

    def catalog(self, solution_area):
        """The solution area's products, as the products step lists them."""
        if solution_area not in self._catalogs:
            self._catalogs[solution_area] = solution_area_catalog(solution_area)
        return self._catalogs[solution_area]

    def products_by_code(self):
        """{code: product} of every product."""
        if self._products is None:
            self._products = {product.code: product for product in Product.objects.all()}
        return self._products


def step_form_kwargs(step, *, partner, cleaned, wizard_key, lookups=None):
    """The keyword arguments of ``step``'s form. ``cleaned(step)`` gives an earlier step's cleaned data (or None
    when that step has none or is not valid); ``wizard_key`` names the run's POE uploads; ``lookups`` (a
    StepLookups of this partner, or None) gives what it has read already."""
    if step == "customer":
        return {"partner": partner, **({"locations": lookups.locations()} if lookups is not None else {})}
    if step == "associate":
        activity = cleaned("activity") or {}
        return {"revenue_association": Activity.REVENUE_ASSOCIATION in activity.get("activities", [])}
    if step == "products":
        customer = cleaned("customer") or {}
        activity = cleaned("activity") or {}
        kwargs = {
            "partner": partner,
            "tenant": customer.get("tenant"),
            "solution_area": activity.get("solution_area"),
            "activities": activity.get("activities", []),
        }
        if lookups is not None:
            kwargs["catalog"] = lookups.catalog(kwargs["solution_area"])
        return kwargs
    if step == "contacts":
        customer = cleaned("customer") or {}
        products = (cleaned("products") or {}).get("products", [])
        return {
            "needs_technical_contact": needs_technical_contact(products),
            "tenant": customer.get("tenant"),
            "domain": customer.get("domain", ""),
        }
    if step == "poe":
        return {"partner": partner, "wizard_key": wizard_key}
    return {}


class DraftSteps:
    """A draft's steps, each bound to its saved data (``{step: {"<step>-<field>": [values]}}``, the wizard's
    storage format) and validated in order, each with what the steps before it cleaned, as the wizard does."""

    def __init__(self, *, partner, step_data, wizard_key, lookups=None):
        from claims.wizard import STEPS  # the forms (claims.wizard imports this module)

        if lookups is not None and lookups.partner.pk != partner.pk:
            raise ValueError("These lookups are another partner's.")
        self.partner = partner
        self.step_data = step_data
        self.wizard_key = wizard_key
        self.lookups = lookups
        self.form_classes = dict(STEPS)
        self._forms = {}

    def form(self, step):
        if step not in self._forms:
            from django.utils.datastructures import MultiValueDict

            data = self.step_data.get(step)
            kwargs = step_form_kwargs(
                step, partner=self.partner, cleaned=self.cleaned, wizard_key=self.wizard_key, lookups=self.lookups
            )
            bound = MultiValueDict(data) if data is not None else None
            self._forms[step] = self.form_classes[step](data=bound, prefix=step, **kwargs)
        return self._forms[step]

    def cleaned(self, step):
        """The step's cleaned data, or None when it has no data or is not valid."""
        if self.step_data.get(step) is None and step not in ("poe", "review"):
            return None
        form = self.form(step)
        return form.cleaned_data if form.is_bound and form.is_valid() else None

    def errors(self, steps=STEP_NAMES):
        """{step: form errors} of the given steps that have data and are not valid."""
        found = {}
        for step in steps:
            form = self.form(step)
            if form.is_bound and not form.is_valid():
                found[step] = form.errors
        return found

    def merged(self):
        """Every step's cleaned data merged (what ``claim_submit`` takes), or None when a step is not valid."""
        data = {}
        for step in STEP_NAMES:
            form = self.form(step)
            if not form.is_bound or not form.is_valid():
                return None
            data.update(form.cleaned_data)
        return data
