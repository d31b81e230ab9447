"""Helpers for the attack suite (test_attack_access, test_attack_inputs): partner B's world, every URL pattern of
the project with its parameters filled in, and reading any response's body."""

import datetime
import re
import uuid
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.urls import URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.regex_helper import normalize

from associations.models import Association, Membership, Subscription, TenantDomain, TenantLicense, UsageRecord
from associations.tests.fixtures import make_tenant
from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification, PendingUpload, PoeDocument
from claims.services import claims_finalize_due
from claims.tests.factories import PDF_BYTES, claim_make
from claims.tokens import opt_out_token_make

# Every page of partner B's data carries one of these; no answer to partner A may contain any of them.
B_MARKERS = ["BSECRET", "bsecret", "Fabrikam"]


@dataclass
class BWorld:
    """Partner B's claims in every status that has a page of its own, with documents, a POE upload in progress,
    history, an email row, an association and usage data, and a customer's opt-out link."""

    claims: dict  # status -> Claim
    documents: list
    pending: PendingUpload
    token: str
    admin_ids: dict = field(default_factory=dict)  # "app/model" -> a primary key of B's data
    content_type_id: int = 0
    own_claim_id: int = 0  # a claim of the actor's own partner, to pair with B's document ids
    api_ids: dict = field(default_factory=dict)  # the partner API's objects of B (api app): param -> id

    def snapshot(self):
        """What must never change when partner A tries B's URLs: B's claims, their history and files."""
        return {
            "claims": sorted(Claim.objects.filter(partner=self.claims["official"].partner).values_list("pk", "status")),
            "events": ClaimEvent.objects.filter(claim__partner=self.claims["official"].partner).count(),
            "documents": sorted(PoeDocument.objects.values_list("pk", "file")),
            "pending": sorted(PendingUpload.objects.values_list("pk", "partner_id")),
            "associations": sorted(Association.objects.values_list("pk", "status")),
            "claim_count": Claim.objects.count(),
        }


def _b_api_objects(partner_b, claim):
    """B's API key, webhook endpoint with a delivery, and bulk import (the partner's API pages name them)."""
    from api.keys import api_key_create
    from api.models import BulkImport, WebhookDelivery, WebhookEndpoint

    key, _raw = api_key_create(partner=partner_b.partner, user=partner_b.admin, name="BSECRET key", access="read")
    endpoint = WebhookEndpoint.objects.create(
        partner=partner_b.partner,
        created_by=partner_b.admin,
        url="https://bsecret.example/hook",
        event_types=["claim.status_changed"],
        secret="whsec_" + "B" * 44,
    )
    event = ClaimEvent.objects.filter(claim=claim).order_by("pk").first()
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, claim_event=event, event_type="claim.status_changed")
    bulk_import = BulkImport.objects.create(
        partner=partner_b.partner, created_by=partner_b.admin, file_name="BSECRET.csv", state="done"
    )
    return {"key_id": key.pk, "endpoint_id": endpoint.pk, "delivery_id": delivery.pk, "import_id": bulk_import.pk}


def b_world(partner_b, products):
    """Partner B's data, marked with B_MARKERS (names, file names, the customer's domain)."""
    tenant = make_tenant(
        "BSECRET Customer Ltd",
        domains=["bsecret-customer.onmicrosoft.com", "bsecret-customer.example"],
        workloads=[code for code, product in products.items() if product.solution_area == "microsoft_365"],
        products=products,
    )
    proof = (("BSECRET-proof.pdf", PDF_BYTES),)
    claims = {
        status: claim_make(
            partner_b,
            tenant=tenant,
            products=[products["exchange-online"]],
            status=status,
            name=f"BSECRET claim {status}",
            comments="BSECRET comments",
            documents=proof,
        )
        for status in (
            ClaimStatus.UNDER_REVIEW,
            ClaimStatus.ACTION_REQUIRED,
            ClaimStatus.CUSTOMER_NOTIFIED,
            ClaimStatus.REJECTED,
        )
    }
    # Official the way production makes it: notified, then finalized past its deadline (associations, emails).
    official = claim_make(
        partner_b,
        tenant=tenant,
        products=[products["microsoft-teams"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        name="BSECRET claim official",
        comments="BSECRET comments",
        opt_out_deadline=datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC),
        documents=(("BSECRET-official.pdf", PDF_BYTES),),
    )
    claims_finalize_due(now=datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC))
    teams = products["microsoft-teams"]
    month = datetime.date(2026, 9, 1)
    UsageRecord.objects.create(tenant=tenant, product=teams, month=month, active_users=7, paid_units=9)
    claims["official"] = Claim.objects.get(pk=official.pk)
    pending = PendingUpload(
        partner=partner_b.partner,
        user=partner_b.admin,
        wizard_key=str(uuid.uuid4()),
        original_name="BSECRET-pending.pdf",
        content_type="application/pdf",
        size=len(PDF_BYTES),
        sha256="0" * 64,
    )
    pending.file.save("BSECRET-pending.pdf", ContentFile(PDF_BYTES), save=True)
    notified = claims[ClaimStatus.CUSTOMER_NOTIFIED]
    token = opt_out_token_make(submission_key=notified.submission_key, deadline=notified.opt_out_deadline)
    world = BWorld(
        claims=claims,
        documents=list(PoeDocument.objects.filter(claim__partner=partner_b.partner).order_by("pk")),
        pending=pending,
        token=token,
    )
    b_user = get_user_model().objects.get(pk=partner_b.admin.pk)
    first = {
        "claims/claim": official.pk,
        "claims/claimevent": ClaimEvent.objects.filter(claim=official).values_list("pk", flat=True).first(),
        "claims/poedocument": world.documents[-1].pk,
        "claims/pendingupload": pending.pk,
        "claims/emailnotification": EmailNotification.objects.filter(claim__partner=partner_b.partner)
        .values_list("pk", flat=True)
        .first(),
        "associations/partner": partner_b.partner.pk,
        "associations/partnerlocation": partner_b.location.pk,
        "associations/membership": Membership.objects.get(user=b_user).pk,
        "associations/tenant": tenant.pk,
        "associations/tenantdomain": TenantDomain.objects.filter(tenant=tenant).values_list("pk", flat=True).first(),
        "associations/tenantlicense": TenantLicense.objects.filter(tenant=tenant).values_list("pk", flat=True).first(),
        "associations/product": products["microsoft-teams"].pk,
        "associations/subscription": Subscription.objects.values_list("pk", flat=True).first() or 1,
        "associations/association": Association.objects.filter(partner=partner_b.partner)
        .values_list("pk", flat=True)
        .first(),
        "associations/usagerecord": UsageRecord.objects.filter(tenant=tenant).values_list("pk", flat=True).first(),
        "auth/user": b_user.pk,
        "auth/group": 1,
    }
    world.admin_ids = {key: value for key, value in first.items() if value is not None}
    world.api_ids = _b_api_objects(partner_b, official)
    world.content_type_id = ContentType.objects.get_for_model(Claim).pk
    return world


# --- every URL pattern ----------------------------------------------------------------------------------------


@dataclass
class Route:
    """One URL pattern of the project: its name ("claims:detail", "admin:claims_claim_change"), the path as a
    format string with %(param)s holes, and the converter of each parameter ("int", "uuid", "str", "path")."""

    name: str
    template: str
    params: dict

    @property
    def is_admin(self):
        return self.template.startswith("/admin/")

    def url(self, values):
        return self.template % values


def routes():
    """Every URL pattern of the project (the admin's included), from Django's own resolver."""
    found = []

    def walk(resolver, prefix, converters, namespaces):
        for pattern in resolver.url_patterns:
            regex = pattern.pattern.regex.pattern
            if prefix and regex.startswith("^"):
                regex = regex[1:]
            these = {**converters, **getattr(pattern.pattern, "converters", {})}
            if isinstance(pattern, URLResolver):
                spaces = namespaces + ([pattern.namespace] if pattern.namespace else [])
                walk(pattern, prefix + regex, these, spaces)
                continue
            template, params = normalize(prefix + regex)[0]
            kinds = {
                name: (type(these[name]).__name__.removesuffix("Converter").lower() if name in these else "str")
                for name in params
            }
            name = ":".join([*namespaces, pattern.name or template])
            found.append(Route(name=name, template="/" + template, params=kinds))

    walk(get_resolver(), "", {}, [])
    return found


def int_forms(value):
    """A database id in every form an attacker might send: as is, zero-padded, negative, past bigint, huge, not a
    number."""
    return [str(value), f"{value:08d}", f"-{value}", str(2**63), "9" * 40, f"{value}abc"]


def uuid_forms(value):
    value = uuid.UUID(str(value))
    return [str(value), str(value).upper(), value.hex, f"{{{value}}}", f"urn:uuid:{value}", "not-a-uuid"]


def token_forms(token, world):
    """The customer's opt-out link of B's claim: genuine (index 0), then tampered in the ways links get damaged or
    forged."""
    last = "A" if token[-1] != "A" else "B"
    return [
        token,
        token[:-1],
        token[:-1] + last,
        token.upper(),
        str(world.claims[ClaimStatus.CUSTOMER_NOTIFIED].submission_key),
        str(world.claims[ClaimStatus.CUSTOMER_NOTIFIED].pk),
    ]


ADMIN_MODEL = re.compile(r"^/admin/(\w+)/(\w+)/")


def route_values(route, world):
    """[{param: value}] for a route: B's real ids in each id form (same form index across a route's params)."""
    if not route.params:
        return [{}]
    claim = world.claims["official"]
    document = world.documents[-1]
    others = [other for other in world.claims.values() if other.pk != claim.pk]
    per_param = {}
    for param in route.params:
        if param == "claim_id":
            # The official claim's id in every form, then B's claims in every other status, plainly.
            forms = int_forms(claim.pk) + [str(other.pk) for other in others]
        elif param == "other_id":
            # The second claim of a comparison (admin's side-by-side view): B's other claims, then in every form.
            forms = [str(other.pk) for other in others] + int_forms(claim.pk)
        elif param == "document_id":
            forms = int_forms(document.pk) + [str(other.documents.order_by("pk").first().pk) for other in others]
        elif param == "upload_id":
            forms = uuid_forms(world.pending.pk)
        elif param == "token":
            # The customer's link; for any other signed link (a password reset's), a forged one.
            forms = token_forms(world.token, world)
        elif param == "uidb64":
            user_id = str(world.admin_ids["auth/user"])
            forms = [urlsafe_base64_encode(force_bytes(user_id)), user_id, "MQ", "!!", "A" * 64, ""]
        elif param == "content_type_id":
            forms = int_forms(world.content_type_id)
        elif param in ("object_id", "id", "pk"):
            match = ADMIN_MODEL.match(route.template)
            key = f"{match.group(1)}/{match.group(2)}" if match else "claims/claim"
            raw = world.admin_ids.get(key, claim.pk)
            forms = uuid_forms(raw) if isinstance(raw, uuid.UUID) else int_forms(raw)
        elif param == "app_label":
            forms = ["claims", "associations", "auth"]
        elif param == "url":
            forms = [f"claims/claim/{claim.pk}/", f"claims/claim/{claim.pk}/change/extra/"]
        elif param in world.api_ids:
            forms = int_forms(world.api_ids[param])
        else:
            raise AssertionError(f"The attack suite does not know the URL parameter {param!r} of {route.name}: add it.")
        per_param[param] = forms
    count = max(len(forms) for forms in per_param.values())
    values = [{param: forms[n % len(forms)] for param, forms in per_param.items()} for n in range(count)]
    if {"claim_id", "document_id"} <= set(route.params) and world.own_claim_id:
        # The actor's own claim with B's document: the document is looked up within the claim, never by id alone.
        values.append({"claim_id": str(world.own_claim_id), "document_id": str(document.pk)})
    return values


def body(response):
    """The whole body of any response (streamed CSV and files included), as text."""
    content = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    return content.decode("utf-8", "replace")
