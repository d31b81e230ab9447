"""The wizard's steps over saved step data, outside a browser session: what the partner API and bulk import use to
validate a draft and submit it exactly as the wizard does (SPEC §16: no second implementation of any rule).

``step_form_kwargs`` is the one place that says what each step's form is built with (the wizard's
``get_form_kwargs`` calls it too): the customer step the partner, the products step the tenant and activities of
the steps before it, the contacts step the chosen products, the POE step the run's uploads.
"""

from associations.models import Activity
from claims.policy import needs_technical_contact

# The wizard's steps in order, with their forms (``claims.wizard.STEPS`` is built from the same forms).
STEP_NAMES = ("customer", "activity", "associate", "products", "contacts", "poe", "review")


def step_form_kwargs(step, *, partner, cleaned, wizard_key):
    """The keyword arguments of ``step``'s form. ``cleaned(step)`` gives an earlier step's cleaned data (or None
    when that step has none or is not valid); ``wizard_key`` names the run's POE uploads."""
    if step == "customer":
        return {"partner": partner}
    if step == "associate":
        activity = cleaned("activity") or {}
        return {"revenue_association": Activity.REVENUE_ASSOCIATION in activity.get("activities", [])}
    if step == "products":
        customer = cleaned("customer") or {}
        activity = cleaned("activity") or {}
        return {
            "partner": partner,
            "tenant": customer.get("tenant"),
            "solution_area": activity.get("solution_area"),
            "activities": activity.get("activities", []),
        }
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

    def __init__(self, *, partner, step_data, wizard_key):
        from claims.wizard import STEPS  # the forms (claims.wizard imports this module)

        self.partner = partner
        self.step_data = step_data
        self.wizard_key = wizard_key
        self.form_classes = dict(STEPS)
        self._forms = {}

    def form(self, step):
        if step not in self._forms:
            from django.utils.datastructures import MultiValueDict

            data = self.step_data.get(step)
            kwargs = step_form_kwargs(step, partner=self.partner, cleaned=self.cleaned, wizard_key=self.wizard_key)
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
