"""What a partner needs to fill in a claim: the products, its own MPN IDs, and the availability check (SPEC §4
step 4, §13): whether each product of a customer's tenant is free, already yours, pending, held by another partner
(never by whom) or not on the tenant, as the wizard's products step says it."""

from django.utils.translation import gettext
from ninja import Query, Schema
from pydantic import Field

from api import schemas
from api.problems import ApiProblem
from api.v1 import api
from associations.models import Activity, PartnerLocation, Product, SolutionArea
from claims.forms.wizard import ActivityForm, CustomerForm, ProductsForm
from claims.selectors import Availability

ERRORS = dict.fromkeys((400, 401, 422, 429), schemas.Problem)


class LocationOut(Schema):
    mpn_id: str
    name: str
    country: str
    active: bool


@api.get("/products", response={200: list[schemas.ProductOut], **ERRORS}, url_name="products", tags=["catalog"])
def products(request):
    """The products that can be claimed, with the codes the claims' ``products`` field takes."""
    return [
        {"code": p.code, "name": p.name, "solution_area": p.solution_area, "is_dynamics": p.is_dynamics}
        for p in Product.objects.order_by("solution_area", "sort_order", "name")
    ]


@api.get("/locations", response={200: list[LocationOut], **ERRORS}, url_name="locations", tags=["catalog"])
def locations(request):
    """Your organization's locations: the MPN IDs a claim's ``location`` takes (active ones only)."""
    return [
        {"mpn_id": loc.mpn_id, "name": loc.name, "country": loc.country, "active": loc.is_active}
        for loc in PartnerLocation.objects.filter(partner=request.auth.partner).order_by("mpn_id")
    ]


class AvailabilityQuery(schemas.In):
    directory_id: str = Field(
        max_length=40,
        description="The customer's Directory ID.",  # i18n: English only (schema)
    )
    domain: str = Field(
        max_length=253,
        description="One of the customer's domain names.",  # i18n: English only (schema)
    )
    solution_area: schemas.SolutionAreaValue
    activities: list[schemas.ActivityValue] = Field(default=["usage"], max_length=3)


@api.get("/availability", response={200: schemas.Availability, **ERRORS}, url_name="availability", tags=["catalog"])
def availability(request, query: Query[AvailabilityQuery]):
    """Which of the solution area's products your organization may claim on this customer's tenant."""
    customer = CustomerForm({"domain": query.domain, "directory_id": query.directory_id}, partner=request.auth.partner)
    del customer.fields["location"]  # not asked here
    activity_data = {"solution_area": query.solution_area}
    if query.solution_area == SolutionArea.BUSINESS_APPLICATIONS:
        if Activity.REVENUE_ASSOCIATION in query.activities:
            activity_data["business_activity"] = "revenue_association"
        else:
            activity_data["business_activity"] = "usage_pre_sales"
        activity_data.update({a: "on" for a in (Activity.USAGE, Activity.PRE_SALES) if a in query.activities})
    activity = ActivityForm(activity_data)
    errors = []
    for form, names in ((customer, {}), (activity, {"business_activity": "activities", "usage": "activities"})):
        if not form.is_valid():
            for field, messages in form.errors.items():
                errors += [(names.get(field, field), message) for message in messages]
    if errors:
        raise ApiProblem(422, gettext("The request is not valid"), "", errors=errors, type_="invalid")
    tenant = customer.cleaned_data["tenant"]
    form = ProductsForm(
        partner=request.auth.partner,
        tenant=tenant,
        solution_area=activity.cleaned_data["solution_area"],
        activities=activity.cleaned_data["activities"],
    )
    found = []
    for product in form.catalog.values():
        status = form.availability.get(product.pk, Availability.NOT_ON_TENANT)
        claim = form.own_claims.get(product.pk) if status in Availability.OWN else None
        subscriptions = [
            {"subscription_id": str(s.subscription_id), "availability": form.by_subscription.get(s.pk, "")}
            for s in form.subscriptions.get(product.pk, [])
        ]
        found.append(
            {
                "product": product.code,
                "name": product.name,
                "availability": status,
                "label": Availability.label(status, claim),
                "subscriptions": subscriptions,
            }
        )
    return {"tenant": tenant.name, "products": found}
