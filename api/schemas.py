"""The API's shapes (pydantic, through django-ninja): what it reads and writes, and so its OpenAPI schema."""

import datetime
from typing import Literal

from ninja import Schema
from pydantic import Field, field_validator

from associations.validators import CONTROL_CHARACTERS


def _has_control(value):
    if isinstance(value, str):
        return CONTROL_CHARACTERS.search(value) is not None
    if isinstance(value, (list, tuple)):
        return any(_has_control(v) for v in value)
    if isinstance(value, dict):
        return any(_has_control(k) or _has_control(v) for k, v in value.items())
    return False


class In(Schema):
    """What the API reads: no control characters (NUL and the like) in any text, said at the field (SPEC §14)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value):
        if _has_control(value):
            raise ValueError("Control characters, such as NUL, are not accepted.")
        return value


Name = Field(default=None, max_length=200)

SolutionAreaValue = Literal["microsoft_365", "business_applications"]
ActivityValue = Literal["usage", "pre_sales", "revenue_association"]
StatusValue = Literal[
    "draft",
    "submitted",
    "under_review",
    "action_required",
    "customer_notified",
    "official",
    "opted_out",
    "rejected",
    "disputed",
    "rejected_final",
    "expired",
    "ended",
]


class FieldError(Schema):
    field: str = Field(
        description="The request's field (or the wizard step) the message is about.",  # i18n: English only (schema)
    )
    message: str


class Problem(Schema):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    errors: list[FieldError] = []


class ClaimFieldsOut(Schema):
    """A claim's fields as the wizard asks for them (SPEC §4). In a draft every field may be missing; each step
    given is checked as the wizard checks it."""

    location: str | None = Field(
        default=None,
        max_length=10,
        description="The MPN ID of one of your locations.",  # i18n: English only (schema)
    )
    domain: str | None = Field(
        default=None,
        max_length=253,
        description="The customer's domain name.",  # i18n: English only (schema)
    )
    directory_id: str | None = Field(
        default=None,
        max_length=40,
        description="The customer's Directory ID (GUID).",  # i18n: English only (schema)
    )
    solution_area: SolutionAreaValue | None = None
    activities: list[ActivityValue] | None = Field(default=None, max_length=3)
    name: str | None = Field(
        default=None,
        max_length=120,
        description="Your name for the claim.",  # i18n: English only (schema)
    )
    dynamics_seller_name: str | None = Name
    customer_name: str | None = Name
    isv_solution_name: str | None = Name
    products: list[str] | None = Field(
        default=None,
        max_length=30,
        description="Product codes (GET /products).",  # i18n: English only (schema)
    )
    subscriptions: dict[str, str] | None = Field(
        default=None,
        description="A Dynamics 365 product with several subscriptions: {code: ID}.",  # i18n: English only (schema)
    )
    customer_contact_name: str | None = Name
    customer_contact_title: str | None = Name
    customer_contact_email: str | None = Field(default=None, max_length=254)
    technical_contact_name: str | None = Name
    technical_contact_title: str | None = Name
    technical_contact_email: str | None = Field(default=None, max_length=254)
    partner_contact_name: str | None = Name
    partner_contact_email: str | None = Field(default=None, max_length=254)
    comments: str | None = Field(default=None, max_length=4000)


class ClaimFields(ClaimFieldsOut, In):
    """A claim's fields as the wizard asks for them (SPEC §4). In a draft every field may be missing; each step
    given is checked as the wizard checks it."""


class DraftCreate(ClaimFields):
    location: str = Field(
        max_length=10,
        description="The MPN ID of one of your locations.",  # i18n: English only (schema)
    )
    domain: str = Field(
        max_length=253,
        description="The customer's domain name.",  # i18n: English only (schema)
    )
    directory_id: str = Field(
        max_length=40,
        description="The customer's Directory ID (GUID).",  # i18n: English only (schema)
    )


class Item(Schema):
    id: int
    program: str
    product: str = Field(description="The product's code.")  # i18n: English only (schema)
    product_name: str
    subscription_id: str | None
    outcome: str = Field(
        description="Empty while it goes on; else rejected, opted_out or declined.",  # i18n: English only (schema)
    )
    official: bool


class Document(Schema):
    id: int
    name: str
    content_type: str
    size: int
    uploaded_at: datetime.datetime


class Event(Schema):
    id: int
    created_at: datetime.datetime
    actor: str
    action: str
    old_status: str
    new_status: str
    reason: str
    message: str
    field: str
    old_value: str
    new_value: str


class Actions(Schema):
    """What the key may do to the claim now (the rule book, ``claims.policy``), with the window's end."""

    continue_editing: bool
    delete: bool
    submit: bool
    answer: bool
    answer_until: datetime.datetime | None
    answer_edits: list[str]
    dispute: bool
    dispute_until: datetime.datetime | None
    protect: bool
    disassociate: bool


class ClaimSummary(Schema):
    id: int
    name: str
    status: StatusValue
    status_label: str
    domain: str
    directory_id: str
    solution_area: str
    activities: list[str]
    submitted_at: datetime.datetime | None
    status_changed_at: datetime.datetime
    opt_out_deadline: datetime.datetime | None
    response_deadline: datetime.datetime | None
    competing: bool


class ClaimDetail(ClaimSummary):
    data: ClaimFieldsOut = Field(
        description="What was entered: a draft's steps, or the submitted claim's.",  # i18n: English only (schema)
    )
    items: list[Item]
    documents: list[Document]
    uploads: list["UploadOut"] = Field(
        description="A draft's POE files, uploaded to be submitted with it.",  # i18n: English only (schema)
    )
    history: list[Event]
    actions: Actions


class ClaimPage(Schema):
    items: list[ClaimSummary]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page.",  # i18n: English only (schema)
    )


class AnswerIn(In):
    comment: str | None = Field(default=None, max_length=5000)
    location: str | None = Field(
        default=None,
        max_length=10,
        description="Another of your MPN IDs.",  # i18n: English only (schema)
    )
    remove_items: list[int] | None = Field(
        default=None,
        max_length=100,
        description="Item ids to remove.",  # i18n: English only (schema)
    )
    customer_contact_name: str | None = Name
    customer_contact_title: str | None = Name
    customer_contact_email: str | None = Field(default=None, max_length=254)
    technical_contact_name: str | None = Name
    technical_contact_title: str | None = Name
    technical_contact_email: str | None = Field(default=None, max_length=254)
    partner_contact_name: str | None = Name
    partner_contact_email: str | None = Field(default=None, max_length=254)


class TextIn(In):
    text: str = Field(max_length=5000)


class ProductAvailability(Schema):
    product: str
    name: str
    availability: Literal["free", "yours", "yours_pending", "held", "pending", "not_on_tenant"]
    label: str
    subscriptions: list[dict[str, str]]


class Availability(Schema):
    tenant: str
    products: list[ProductAvailability]


class ProductOut(Schema):
    code: str
    name: str
    solution_area: str
    is_dynamics: bool


class UsageMonth(Schema):
    product: str
    month: datetime.date
    active_users: int
    paid_units: int


class UploadOut(Schema):
    id: str
    name: str
    content_type: str
    size: int


class ImportOut(Schema):
    id: int
    state: str
    file_name: str
    rows_total: int
    rows_done: int
    error: str
    created_at: datetime.datetime
    finished_at: datetime.datetime | None
    result_url: str | None


class ImportRowOut(Schema):
    line: int
    row_key: str
    outcome: str
    claim_id: int | None
    message: str
