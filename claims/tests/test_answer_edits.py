"""The edits an answer to an information request may make (SPEC §12): the MPN ID, fewer products and the contacts,
each recorded with its old and new value; and PostgreSQL refusing every other column, and these columns in every
other status (migration 0010)."""

import importlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from claims.models import Claim, ClaimEvent, ClaimItem, ClaimStatus, PoeDocument
from claims.services import claim_request_information
from claims.tests.factories import PDF_BYTES, claim_make

pytestmark = pytest.mark.django_db
LIFE = importlib.import_module("claims.migrations.0010_claim_life")


def _request(claim, reviewer, message="Please check the contacts."):
    claim_request_information(claim=claim, user=reviewer, reason="poe_insufficient", message=message)
    claim.refresh_from_db()
    return claim


@pytest.fixture
def waiting(partner_a, m365_tenant, products, reviewer):
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"], products["yammer"]],
        status=ClaimStatus.UNDER_REVIEW,
    )
    return _request(claim, reviewer)


def _post(client, claim, **data):
    return client.post(reverse("claims:respond", args=[claim.pk]), data)


def _changes(claim):
    return list(
        ClaimEvent.objects.filter(claim=claim, action=ClaimEvent.Action.CHANGED)
        .order_by("pk")
        .values_list("actor", "field", "old_value", "new_value")
    )


def _item(claim, code):
    return ClaimItem.objects.get(claim=claim, product__code=code)


def test_answer_edits_each_recorded_with_old_and_new_value_then_back_to_review(
    client_a, partner_a, waiting, s3_objects
):
    yammer = _item(waiting, "yammer")
    response = _post(
        client_a,
        waiting,
        comment="Fixed the MPN ID and the contact.",
        location="1000002",
        remove_items=[str(yammer.pk)],
        customer_contact_name="Ana Admin",
        customer_contact_email="ana@it.northwindtraders.example",
        partner_contact_email="incentives@partner-a.example",
        files=[SimpleUploadedFile("sow.pdf", PDF_BYTES)],
    )

    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.UNDER_REVIEW and waiting.response_deadline is None
    assert waiting.location == partner_a.locations[1]
    assert (waiting.customer_contact_name, waiting.customer_contact_email, waiting.partner_contact_email) == (
        "Ana Admin",
        "ana@it.northwindtraders.example",
        "incentives@partner-a.example",
    )
    assert list(waiting.items.values_list("product__code", flat=True)) == ["microsoft-teams"]
    assert _changes(waiting) == [
        ("partner", "location", "1000001 · Contoso Partners 1", "1000002 · Contoso Partners 2"),
        ("partner", "customer_contact_name", "Dana Customer", "Ana Admin"),
        (
            "partner",
            "customer_contact_email",
            "dana@northwindtraders.onmicrosoft.com",
            "ana@it.northwindtraders.example",
        ),
        ("partner", "partner_contact_email", "claims@partner-a.example", "incentives@partner-a.example"),
        ("partner", "product", "Yammer", ""),
    ]
    assert set(ClaimEvent.objects.filter(action="changed").values_list("user", flat=True)) == {partner_a.admin.pk}
    # The move comes last, with the comment; the file is in response to the request.
    latest = waiting.events.first()
    assert (latest.action, latest.message, latest.old_status, latest.new_status) == (
        "responded",
        "Fixed the MPN ID and the contact.",
        "action_required",
        "under_review",
    )
    assert PoeDocument.objects.filter(claim=waiting, in_response=True, original_name="sow.pdf").count() == 1
    # The history on the claim page shows the changes.
    page = client_a.get(reverse("claims:detail", args=[waiting.pk])).content.decode()
    assert "1000002 · Contoso Partners 2" in page


def test_answer_an_edit_alone_is_an_answer(client_a, waiting):
    assert _post(client_a, waiting, customer_contact_title="CIO").status_code == 302

    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.UNDER_REVIEW
    assert _changes(waiting) == [("partner", "customer_contact_title", "IT director", "CIO")]
    assert waiting.events.first().message == ""


def test_answer_the_same_values_and_no_comment_is_an_empty_answer(client_a, waiting):
    response = _post(
        client_a,
        waiting,
        location="1000001",
        customer_contact_name=waiting.customer_contact_name,
        customer_contact_email=waiting.customer_contact_email,
    )

    assert response.status_code == 400
    assert "Your answer is empty: write a comment, add a file or change the claim." in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED and _changes(waiting) == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"customer_contact_email": "dana@gmail.example"},
            "customer_contact_email",
            "Enter an address at the customer&#x27;s domain",
        ),
        ({"customer_contact_email": "dana@evilnorthwindtraders.example"}, "customer_contact_email", "customer&#x27;s"),
        ({"customer_contact_name": ""}, "customer_contact_name", "Enter the customer&#x27;s contact name."),
        ({"customer_contact_name": "Ana\x0bAdmin"}, "customer_contact_name", "Remove the invisible control character"),
        ({"partner_contact_email": "not an address"}, "partner_contact_email", "Enter a valid email address"),
        ({"location": "2000001"}, "location", "This MPN ID is not one of your organization&#x27;s active locations."),
        ({"location": "9999999"}, "location", "This MPN ID is not one of your organization&#x27;s active locations."),
        ({"remove_items": ["999999"]}, "remove_items", "This product is not part of this claim."),
    ],
)
def test_answer_bad_edit_is_refused_at_its_field_with_the_typed_text_kept(
    client_a, partner_b, waiting, data, field, message
):
    response = _post(client_a, waiting, comment="My answer.", **data)

    page = response.content.decode()
    assert response.status_code == 400
    assert f'id="respond-{field}_error"' in page and message in page
    assert "My answer.</textarea>" in page
    if field != "location":  # a select offers only the partner's own MPN IDs
        for value in data.values():
            if isinstance(value, str) and value:
                assert value in page
    # The edits' part is open, so that the error is seen.
    assert '<details class="answer-edits" open>' in page
    waiting.refresh_from_db()
    assert waiting.status == ClaimStatus.ACTION_REQUIRED and _changes(waiting) == []


def test_answer_cannot_remove_every_product(client_a, waiting):
    items = [str(pk) for pk in waiting.items.values_list("pk", flat=True)]

    response = _post(client_a, waiting, comment="Remove all", remove_items=items)

    assert response.status_code == 400
    assert "Keep at least one product: a claim cannot have none." in response.content.decode()
    assert waiting.items.count() == 2


def test_answer_form_of_a_one_product_claim_offers_no_removal(client_a, partner_a, m365_tenant, products, reviewer):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)
    _request(claim, reviewer)

    page = client_a.get(reverse("claims:detail", args=[claim.pk])).content.decode()
    assert 'name="remove_items"' not in page and 'name="customer_contact_email"' in page
    item = claim.items.get()
    # A removal posted anyway is not the form's: the answer goes, the claim keeps its product.
    assert _post(client_a, claim, comment="x", remove_items=[str(item.pk)]).status_code == 302
    assert list(claim.items.all()) == [item] and _changes(claim) == []


def test_answer_dynamics_technical_contact_is_editable_within_the_tenant(
    client_a, partner_a, bizapps_tenant, products, reviewer
):
    claim = claim_make(
        partner_a,
        tenant=bizapps_tenant,
        subscriptions=[bizapps_tenant.field_service_subscription],
        status=ClaimStatus.UNDER_REVIEW,
    )
    _request(claim, reviewer)
    page = client_a.get(reverse("claims:detail", args=[claim.pk])).content.decode()
    assert 'name="technical_contact_email"' in page

    refused = _post(client_a, claim, technical_contact_email="toni@elsewhere.example")
    assert refused.status_code == 400 and 'id="respond-technical_contact_email_error"' in refused.content.decode()

    assert _post(client_a, claim, technical_contact_email="toni@adventure-works.example").status_code == 302
    assert _changes(claim) == [
        (
            "partner",
            "technical_contact_email",
            "toni@adventureworks.onmicrosoft.com",
            "toni@adventure-works.example",
        )
    ]


def test_answer_form_is_not_shown_to_an_incentives_user_nor_after_the_answer(client, partner_a, waiting):
    client.force_login(partner_a.viewer)
    assert 'id="respond-form"' not in client.get(reverse("claims:detail", args=[waiting.pk])).content.decode()
    client.force_login(partner_a.admin)
    assert 'id="respond-form"' in client.get(reverse("claims:detail", args=[waiting.pk])).content.decode()
    _post(client, waiting, comment="Done.")
    assert 'id="respond-form"' not in client.get(reverse("claims:detail", args=[waiting.pk])).content.decode()


def test_answer_xhr_post_gets_the_claim_page_address_and_keeps_the_message(client_a, waiting):
    response = client_a.post(
        reverse("claims:respond", args=[waiting.pk]),
        {"comment": "By XHR."},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )

    assert response.status_code == 200
    assert response.json() == {"location": reverse("claims:detail", args=[waiting.pk])}
    page = client_a.get(response.json()["location"]).content.decode()
    assert "Thank you. Your answer was sent to the reviewer." in page


# PostgreSQL (migration 0010): what it allows while action_required, and what it refuses.


def _update(claim, column, expression, params=()):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE claims_claim SET {column} = {expression} WHERE id = %s", [*params, claim.pk])


def _changed_value(column):
    """An SQL expression that gives ``column`` another value of its type."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'claims_claim' AND column_name = %s",
            [column],
        )
        (data_type,) = cursor.fetchone()
    return {
        "character varying": f"{column} || 'x'",
        "text": f"{column} || 'x'",
        "uuid": "gen_random_uuid()",
        "jsonb": f"{column} || '{{\"changed\": true}}'::jsonb" if column == "draft_data" else "'[\"changed\"]'::jsonb",
        "timestamp with time zone": f"{column} - interval '1 day'",
        "bigint": f"{column} + 1",
        "integer": f"{column} + 1",
    }[data_type]


def test_answer_columns_other_than_the_editable_ones_are_refused_while_action_required(waiting):
    frozen = [column for column in LIFE.CLAIM_FROZEN if column not in LIFE.ANSWER_EDITABLE]
    assert "name" in frozen and "domain" in frozen and "customer_contact_email" not in frozen

    for column in frozen:
        with pytest.raises(DatabaseError, match="may change only the MPN ID and the contacts"):
            _update(waiting, column, _changed_value(column))

    # The editable ones are accepted (so the refusals above are about their columns).
    for column in LIFE.ANSWER_EDITABLE:
        if column != "location_id":
            _update(waiting, column, "%s", [f"{column}@northwindtraders.example"])


@pytest.mark.parametrize("status", [ClaimStatus.UNDER_REVIEW, ClaimStatus.OFFICIAL, ClaimStatus.REJECTED])
def test_answer_editable_columns_are_refused_in_other_statuses(partner_a, m365_tenant, products, status):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=status)

    for column in LIFE.ANSWER_EDITABLE:
        if column == "location_id":
            with pytest.raises(DatabaseError, match="cannot be edited"):
                _update(claim, column, "%s", [partner_a.locations[1].pk])
        else:
            with pytest.raises(DatabaseError, match="cannot be edited"):
                _update(claim, column, "%s", ["changed"])
    items = list(claim.items.all())
    with pytest.raises(DatabaseError, match="cannot be deleted"), transaction.atomic():
        ClaimItem.objects.filter(pk=items[0].pk).delete()


def test_answer_location_of_another_partner_is_refused(waiting, partner_a, partner_b):
    with pytest.raises(DatabaseError, match="must be one of its partner"):
        _update(waiting, "location_id", "%s", [partner_b.location.pk])

    _update(waiting, "location_id", "%s", [partner_a.locations[1].pk])
    assert Claim.objects.get(pk=waiting.pk).location_id == partner_a.locations[1].pk


def test_answer_deleting_the_last_item_is_refused_and_one_of_two_is_allowed(waiting):
    with pytest.raises(DatabaseError, match="keeps at least one product"), transaction.atomic():
        ClaimItem.objects.filter(claim=waiting).delete()
    assert waiting.items.count() == 2

    with transaction.atomic():
        _item(waiting, "yammer").delete()
    with pytest.raises(DatabaseError, match="keeps at least one product"), transaction.atomic():
        _item(waiting, "microsoft-teams").delete()


def test_answer_deleting_poe_is_refused(waiting):
    with pytest.raises(DatabaseError, match="cannot be deleted"), transaction.atomic():
        PoeDocument.objects.filter(claim=waiting).delete()
    assert PoeDocument.objects.filter(claim=waiting).count() == 1
