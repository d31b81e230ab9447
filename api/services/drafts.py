"""Drafts from the API and bulk import: the wizard's own drafts (SPEC §12), written and checked as the wizard does.

A claim's fields as the API names them are turned into the wizard's step data (``{step: {"<step>-<field>":
[values]}}``) and validated by the wizard's own step forms (``claims.wizard.steps.DraftSteps``); the draft is saved
by the wizard's services (``claims.services.drafts``) with the same columns, and submitted by ``claim_submit``. So
a draft made through the API opens in the browser's wizard (**Continue editing**) and the other way round.
"""

import copy
import dataclasses
import json
import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext

from associations.models import Activity, Product, SolutionArea
from claims.models import BusinessAppsActivity, Claim, ClaimStatus, PendingUpload
from claims.services import claim_submit
from claims.services.drafts import WIZARD_PREFIX, claim_draft_create, claim_draft_update, draft_columns
from claims.wizard.steps import STEP_NAMES, DraftSteps

# The API's field of each wizard field, by step (what the API calls it -> the step form's field).
STEP_FIELDS = {
    "customer": {"location": "location", "domain": "domain", "directory_id": "directory_id"},
    "associate": {
        "name": "name",
        "dynamics_seller_name": "dynamics_seller_name",
        "customer_name": "customer_name",
        "isv_solution_name": "isv_solution_name",
    },
    "contacts": {
        name: name
        for name in (
            "customer_contact_name",
            "customer_contact_title",
            "customer_contact_email",
            "technical_contact_name",
            "technical_contact_title",
            "technical_contact_email",
            "partner_contact_name",
            "partner_contact_email",
        )
    },
    "review": {"comments": "comments"},
}
# The API's fields of each step (activity and products are translated, not copied).
API_STEP_OF = {
    **{api: step for step, fields in STEP_FIELDS.items() for api in fields},
    "solution_area": "activity",
    "activities": "activity",
    "products": "products",
    "subscriptions": "products",
}


class DraftInvalid(Exception):
    """The fields are not a valid draft: ``errors`` [(API field, message)]."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))
        self.errors = errors


def _values(value):
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values if v is not None and str(v) != ""]


def step_of(step, fields):
    """One step's data as the wizard stores it: {"<step>-<field>": [values]}, with its management field."""
    data = {f"{WIZARD_PREFIX}-current_step": [step]}
    for name, value in fields.items():
        values = _values(value)
        if values:
            data[f"{step}-{name}"] = values
    return data


def _read(step_data, step, name):
    values = (step_data.get(step) or {}).get(f"{step}-{name}") or []
    return values[0] if values else None


def fields_of_step_data(step_data):
    """The API's fields of a draft's step data (what GET shows; absent fields are None)."""
    fields = {}
    for step, names in STEP_FIELDS.items():
        for api, form in names.items():
            fields[api] = _read(step_data, step, form)
    area = _read(step_data, "activity", "solution_area")
    fields["solution_area"] = area
    business = _read(step_data, "activity", "business_activity")
    if area == SolutionArea.MICROSOFT_365:
        fields["activities"] = [Activity.USAGE.value]
    elif business == BusinessAppsActivity.REVENUE_ASSOCIATION:
        fields["activities"] = [Activity.REVENUE_ASSOCIATION.value]
    elif area:
        fields["activities"] = [
            a for a in (Activity.USAGE, Activity.PRE_SALES) if _read(step_data, "activity", a) not in (None, "")
        ] or None
    else:
        fields["activities"] = None
    product_ids = (step_data.get("products") or {}).get("products-products") or []
    products = {str(p.pk): p for p in Product.objects.filter(pk__in=[i for i in product_ids if i.isdigit()])}
    fields["products"] = [products[i].code for i in product_ids if i in products] or None
    subscriptions = {}
    for key, values in (step_data.get("products") or {}).items():
        if key.startswith("products-subscription_") and values and values[0]:
            subscriptions[key.removeprefix("products-subscription_")] = values[0]
    fields["subscriptions"] = subscriptions or None
    return fields


def step_data_merge(step_data, fields):
    """``step_data`` with the API's ``fields`` (those given, not None) written into their steps: a step whose
    fields are given is rebuilt from the step's saved fields and these. Raises DraftInvalid for unknown product
    codes. Returns (new step data, the steps touched)."""
    given = {name: value for name, value in fields.items() if value is not None}
    current = fields_of_step_data(step_data)
    merged = {**current, **given}
    touched = {API_STEP_OF[name] for name in given if name in API_STEP_OF}
    data = copy.deepcopy(step_data)
    for step, names in STEP_FIELDS.items():
        if step in touched:
            data[step] = step_of(step, {form: merged.get(api) for api, form in names.items()})
    if "activity" in touched:
        area = merged.get("solution_area")
        activities = merged.get("activities") or []
        activity = {"solution_area": area}
        if area == SolutionArea.BUSINESS_APPLICATIONS:
            if Activity.REVENUE_ASSOCIATION in activities:
                activity["business_activity"] = BusinessAppsActivity.REVENUE_ASSOCIATION
                # Anything else asked with it is said by the form (revenue association is claimed alone).
                activity.update({a: "on" for a in (Activity.USAGE, Activity.PRE_SALES) if a in activities})
            else:
                activity["business_activity"] = BusinessAppsActivity.USAGE_PRE_SALES
                activity.update({a: "on" for a in (Activity.USAGE, Activity.PRE_SALES) if a in activities})
        elif area == SolutionArea.MICROSOFT_365 and Activity.PRE_SALES in activities:
            activity["pre_sales"] = "on"  # the form says Microsoft 365 offers only Usage
        data["activity"] = step_of("activity", activity)
    if "products" in touched:
        codes = merged.get("products") or []
        found = {p.code: p for p in Product.objects.filter(code__in=codes)}
        unknown = [code for code in codes if code not in found]
        if unknown:
            raise DraftInvalid([("products", gettext("Unknown product code: %(code)s.") % {"code": unknown[0]})])
        products = {"products": [str(found[code].pk) for code in codes]}
        for code, subscription in (merged.get("subscriptions") or {}).items():
            products[f"subscription_{code}"] = subscription
        data["products"] = step_of("products", products)
    return data, touched


def _api_field(step, form_field):
    """The API's name of a step form's field (its errors are said under it)."""
    if step == "activity":
        return "activities" if form_field in ("business_activity", "usage", "pre_sales") else "solution_area"
    if step == "products":
        return "subscriptions" if form_field.startswith("subscription_") else "products"
    if step == "poe":
        return "poe"
    for api, form in STEP_FIELDS.get(step, {}).items():
        if form == form_field:
            return api
    return step


def draft_errors(steps, names):
    """[(API field, message)] of the steps ``names`` that have data and are not valid."""
    errors = []
    for step, form_errors in steps.errors(names).items():
        for field, messages in form_errors.items():
            for message in messages:
                errors.append((_api_field(step, field) if field != "__all__" else step, str(message)))
    return errors


def _size_check(draft_data):
    size = len(json.dumps(draft_data, cls=DjangoJSONEncoder, ensure_ascii=False).encode())
    if size > settings.DRAFT_MAX_BYTES:
        message = gettext(
            "What you entered is more than a draft can keep (%(max)s for the whole customer association). "
            "Shorten it and try again: nothing of this step was saved."
        ) % {"max": filesizeformat(settings.DRAFT_MAX_BYTES)}
        raise DraftInvalid([("draft", message)])


def _draft_data(step_data, submission_key, last_step):
    return {
        "step": last_step,
        "step_data": step_data,
        "step_files": {},
        "extra_data": {"submission_key": str(submission_key)},
    }


def _columns(steps, touched):
    columns = {}
    for step in ("customer", "activity", "associate"):
        if step in touched and (cleaned := steps.cleaned(step)) is not None:
            columns.update(draft_columns(step, cleaned))
    return columns


def _laststep_of(step_data):
    present = [step for step in STEP_NAMES if step in step_data]
    return present[-1] if present else STEP_NAMES[0]


def api_draft_create(*, partner, user, fields, submission_key=None):
    """A new draft from the API's ``fields``: the customer step (MPN ID, domain, Directory ID) must be valid, as the
    wizard's first Continue; every other step given is checked by its form too. DraftInvalid with the errors, or
    DraftLimitReached. Returns the draft."""
    key = submission_key or uuid.uuid4()
    step_data, touched = step_data_merge({}, fields)
    steps = DraftSteps(partner=partner, step_data=step_data, wizard_key=str(key))
    errors = draft_errors(steps, [s for s in STEP_NAMES if s in touched])
    if "customer" not in touched:
        errors.insert(0, ("location", gettext("Select the MPN ID of your location to associate with the customer.")))
    if errors:
        raise DraftInvalid(errors)
    draft_data = _draft_data(step_data, key, _laststep_of(step_data))
    _size_check(draft_data)
    claim_id = claim_draft_create(
        partner=partner, user=user, submission_key=key, draft_data=draft_data, columns=_columns(steps, touched)
    )
    return Claim.objects.get(pk=claim_id)


def api_draft_update(*, claim, fields):
    """The draft with the API's ``fields`` written in (the others kept). DraftInvalid with the errors; False when
    the claim stopped being a draft meanwhile."""
    saved = claim.draft_data if isinstance(claim.draft_data, dict) else {}
    step_data = saved.get("step_data") if isinstance(saved.get("step_data"), dict) else {}
    step_data, touched = step_data_merge(step_data, fields)
    steps = DraftSteps(partner=claim.partner, step_data=step_data, wizard_key=str(claim.submission_key))
    errors = draft_errors(steps, [s for s in STEP_NAMES if s in touched])
    if errors:
        raise DraftInvalid(errors)
    draft_data = _draft_data(step_data, claim.submission_key, _laststep_of(step_data))
    _size_check(draft_data)
    return claim_draft_update(
        partner=claim.partner,
        submission_key=claim.submission_key,
        draft_data=draft_data,
        columns=_columns(steps, touched),
    )


@dataclasses.dataclass
class Submitted:
    claim: Claim
    already: bool


def api_draft_submit(*, claim, user):
    """Submit a draft as the wizard's last step does: every step valid (the POE step: its uploads), then
    ``claim_submit`` with the wizard's merged data. DraftInvalid with every error; PoeStorageError when the
    storage fails (nothing submitted). A claim submitted already is returned as it is (``already``)."""
    if claim.status != ClaimStatus.DRAFT:
        return Submitted(claim=claim, already=True)
    saved = claim.draft_data if isinstance(claim.draft_data, dict) else {}
    step_data = dict(saved.get("step_data") or {})
    step_data.setdefault("poe", step_of("poe", {}))
    step_data.setdefault("review", step_of("review", {}))
    steps = DraftSteps(partner=claim.partner, step_data=step_data, wizard_key=str(claim.submission_key))
    errors = []
    for step in STEP_NAMES:
        if step not in step_data or not step_data[step]:
            errors.append((step, gettext("This step is not filled in yet.")))
    errors += draft_errors(steps, STEP_NAMES)
    data = steps.merged()
    if errors or data is None:
        raise DraftInvalid(errors or [("draft", gettext("This draft is not complete."))])
    submitted = claim_submit(user=user, partner=claim.partner, data=data, submission_key=claim.submission_key)
    return Submitted(claim=submitted, already=False)


def draft_uploads(claim):
    return list(
        PendingUpload.objects.filter(partner_id=claim.partner_id, wizard_key=str(claim.submission_key)).order_by(
            "created_at"
        )
    )
