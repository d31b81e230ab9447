"""Bounces (SPEC §5-§7, claims.bounces, claims.services.notices): a delivery status notification (RFC 3464) that
comes back after the mail server accepted the customer's notice stops the opt-out window, through the webhook
``POST /mail/bounces/`` or ``manage.py claims_bounce_receive``; it acts once, and a forged or unsigned one is
refused."""

import datetime
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse

from claims.bounces import bounce_address, bounce_address_read, dsn_read
from claims.models import ClaimEvent, ClaimStatus, EmailNotification
from claims.services import claim_approve, claims_finalize_due, emails_send_due
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
APPROVED = datetime.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TOKEN = "bounce-webhook-token-for-the-tests-0123456789"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.EMAIL_BOUNCE_TOKEN = TOKEN


def _delivered(actor, tenant, reviewer, **kwargs):
    """A claim approved and its notice accepted (locmem): (claim, notice row, the message sent)."""
    claim = claim_make(actor, tenant=tenant, status=ClaimStatus.UNDER_REVIEW, documents=(), **kwargs)
    with time_machine.travel(APPROVED, tick=False):
        claim_approve(claim=claim, user=reviewer)
        assert emails_send_due() == 1
    claim.refresh_from_db()
    assert claim.opt_out_deadline is not None
    return claim, EmailNotification.objects.get(claim=claim, kind="customer_notified")


def dsn(*, to, recipient, message_id, action="failed", status="5.1.1", original=None):
    """A delivery status notification as Postfix writes one, returned to ``to`` (our VERP address)."""
    original_line = f"Original-Recipient: rfc822;{original}\n" if original else ""
    return f"""Return-Path: <>
Delivered-To: {to}
From: MAILER-DAEMON@mx.northwindtraders.example (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

--B0UND
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.northwindtraders.example. Your message could not be delivered.

--B0UND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.northwindtraders.example
Arrival-Date: Mon, 30 Nov 2026 09:00:05 +0000

Final-Recipient: rfc822; {recipient}
{original_line}Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected:
    User unknown in virtual mailbox table

--B0UND
Content-Type: text/rfc822-headers

From: CPOR claims <no-reply@cpor.example>
To: {recipient}
Subject: Contoso Partners asks to be your partner of record
Message-ID: {message_id}

--B0UND--
""".replace("\n", "\r\n").encode()


def _post(client, raw, *, token=TOKEN, **query):
    url = reverse("mail_bounce")
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(url, raw, content_type="message/rfc822", headers=headers)


def _snapshot(claim):
    claim.refresh_from_db()
    return (
        claim.status,
        claim.opt_out_deadline,
        ClaimEvent.objects.filter(claim=claim).count(),
        sorted(EmailNotification.objects.filter(claim=claim).values_list("kind", "state", "last_error")),
    )


def test_bounce_webhook_stops_the_window_and_sends_the_claim_back_once(
    client, partner_a, m365_tenant, products, reviewer
):
    claim, notice = _delivered(partner_a, m365_tenant, reviewer, products=[products["microsoft-teams"]])
    raw = dsn(to=bounce_address(notice.pk), recipient=claim.customer_contact_email, message_id=notice.message_id)

    response = _post(client, raw)

    assert response.status_code == 200 and response.json() == {"result": "acted"}
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED
    assert (claim.customer_notified_at, claim.opt_out_deadline) == (None, None)
    assert claim.response_deadline is not None
    event = claim.events.get(new_status=ClaimStatus.ACTION_REQUIRED)
    assert (event.actor, event.action, event.reason, event.old_status) == (
        "system",
        "information_requested",
        "notice_undeliverable",
        "customer_notified",
    )
    assert event.message.startswith(f"Bounced: {claim.customer_contact_email}: 5.1.1 smtp; 550 5.1.1")
    notice.refresh_from_db()
    assert (notice.state, notice.last_error) == ("failed", event.message)
    assert EmailNotification.objects.filter(claim=claim, kind="action_required", event=event).count() == 1
    # The customer's link, made for the old window, no longer opens the page; finalization never takes it.
    assert claims_finalize_due(now=APPROVED + datetime.timedelta(days=60)) == 0

    # The same report again (mail servers retry, people repost): nothing changes.
    before = _snapshot(claim)
    again = _post(client, raw)
    assert again.status_code == 200 and again.json() == {"result": "already"}
    assert _snapshot(claim) == before


def test_bounce_forged_unsigned_or_unauthenticated_reports_are_refused(
    client, partner_a, m365_tenant, products, reviewer, settings
):
    claim, notice = _delivered(partner_a, m365_tenant, reviewer, products=[products["microsoft-teams"]])
    address = bounce_address(notice.pk)
    local, _, domain = address.partition("@")
    forged_signature = local[:-4] + ("0000" if not local.endswith("0000") else "1111") + "@" + domain
    other_row = address.replace(f"+{notice.pk}-", f"+{notice.pk + 1}-")
    before = _snapshot(claim)

    for raw in [
        # A signature altered, or another row's id under this row's signature.
        dsn(to=forged_signature, recipient=claim.customer_contact_email, message_id=""),
        dsn(to=other_row, recipient=claim.customer_contact_email, message_id=""),
        # Unsigned: the bounce mailbox itself, no Message-ID we sent.
        dsn(to="bounces@cpor.example", recipient=claim.customer_contact_email, message_id="<guess@cpor.example>"),
        # Signed for this row but returning another message.
        dsn(to=address, recipient=claim.customer_contact_email, message_id="<other@cpor.example>"),
        # Not a delivery status report at all.
        b"From: someone@example.com\r\nTo: " + address.encode() + b"\r\nSubject: out of office\r\n\r\nAway.\r\n",
        b"\x00\xff not mail",
    ]:
        response = _post(client, raw)
        assert response.status_code == 400, raw[:200]
        assert "error" in response.json()
    # The envelope recipient given by the mail server must be a signed address too.
    signed = dsn(to=address, recipient=claim.customer_contact_email, message_id=notice.message_id)
    assert _post(client, signed, recipient=forged_signature).status_code == 400

    assert _post(client, signed, token="wrong-" + TOKEN).status_code == 401
    assert _post(client, signed, token=None).status_code == 401
    assert client.get(reverse("mail_bounce"), headers={"authorization": f"Bearer {TOKEN}"}).status_code == 405
    settings.EMAIL_BOUNCE_TOKEN = ""
    assert _post(client, signed).status_code == 404
    assert _snapshot(claim) == before


def test_bounce_temporary_or_delivered_reports_change_nothing(client, partner_a, m365_tenant, products, reviewer):
    claim, notice = _delivered(partner_a, m365_tenant, reviewer, products=[products["microsoft-teams"]])
    before = _snapshot(claim)

    for action, status in [("delayed", "4.4.1"), ("delivered", "2.0.0"), ("failed", "4.2.2")]:
        raw = dsn(
            to=bounce_address(notice.pk),
            recipient=claim.customer_contact_email,
            message_id=notice.message_id,
            action=action,
            status=status,
        )
        response = _post(client, raw)
        assert response.status_code == 200 and response.json() == {"result": "ignored"}
    assert _snapshot(claim) == before


def test_bounce_found_by_the_returned_message_id_without_a_verp_address(
    client, partner_a, m365_tenant, products, reviewer
):
    claim, notice = _delivered(partner_a, m365_tenant, reviewer, products=[products["microsoft-teams"]])
    raw = dsn(to="postmaster@cpor.example", recipient=claim.customer_contact_email, message_id=notice.message_id)

    assert _post(client, raw).json() == {"result": "acted"}
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED


def test_bounce_of_the_technical_contacts_copy_is_recorded_and_the_claim_goes_on(
    client, partner_a, bizapps_tenant, reviewer
):
    claim, notice = _delivered(
        partner_a, bizapps_tenant, reviewer, subscriptions=[bizapps_tenant.field_service_subscription]
    )
    raw = dsn(to=bounce_address(notice.pk), recipient=claim.technical_contact_email, message_id=notice.message_id)

    assert _post(client, raw).json() == {"result": "recorded"}
    assert _post(client, raw).json() == {"result": "already"}

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED and claim.opt_out_deadline is not None
    notice.refresh_from_db()
    assert notice.state == "sent"
    assert notice.last_error == f"Bounced for {claim.technical_contact_email}: 5.1.1 " + (
        f"smtp; 550 5.1.1 <{claim.technical_contact_email}>: Recipient address rejected: User unknown in virtual "
        "mailbox table"
    )


def test_bounce_after_the_claim_became_official_is_recorded_and_the_claim_stays(
    client, partner_a, m365_tenant, products, reviewer
):
    claim, notice = _delivered(partner_a, m365_tenant, reviewer, products=[products["microsoft-teams"]])
    assert claims_finalize_due(now=claim.opt_out_deadline + datetime.timedelta(seconds=1)) == 1
    raw = dsn(to=bounce_address(notice.pk), recipient=claim.customer_contact_email, message_id=notice.message_id)

    assert _post(client, raw).json() == {"result": "recorded"}

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OFFICIAL
    late = claim.events.get(action="notice_bounced")
    assert (late.actor, late.new_status, late.message.startswith("Bounced: ")) == ("system", "", True)
    notice.refresh_from_db()
    assert notice.state == "failed"
    assert _post(client, raw).json() == {"result": "already"}
    assert claim.events.filter(action="notice_bounced").count() == 1


def test_bounce_command_reads_a_report_from_standard_input_once(partner_a, m365_tenant, products, reviewer):
    claim, notice = _delivered(partner_a, m365_tenant, reviewer, products=[products["microsoft-teams"]])
    address = bounce_address(notice.pk)
    raw = dsn(to=address, recipient=claim.customer_contact_email, message_id=notice.message_id)

    out = io.StringIO()
    call_command("claims_bounce_receive", recipient=address, stdin=io.BytesIO(raw), stdout=out)
    assert out.getvalue().strip() == "acted"
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED

    before = _snapshot(claim)
    out = io.StringIO()
    call_command("claims_bounce_receive", recipient=address, stdin=io.BytesIO(raw), stdout=out)
    assert out.getvalue().strip() == "already"
    assert _snapshot(claim) == before

    # Input we do not act on: EX_DATAERR (65), which a pipe transport returns to the (empty) sender.
    with pytest.raises(CommandError) as refused:
        call_command("claims_bounce_receive", recipient="bounces@cpor.example", stdin=io.BytesIO(raw))
    assert refused.value.returncode == 65
    with pytest.raises(CommandError) as refused:
        call_command("claims_bounce_receive", stdin=io.BytesIO(b"hello"))
    assert refused.value.returncode == 65


def test_bounce_address_is_signed_per_row_and_survives_a_key_rotation(settings):
    address = bounce_address(42)
    local, _, domain = address.partition("@")
    assert domain == "cpor.example" and local.startswith("bounces+42-") and len(local) <= 64
    assert bounce_address_read(address) == 42
    assert bounce_address_read(f"<{address.upper()}>") == 42  # servers may change the case
    assert bounce_address_read(address.replace("+42-", "+43-")) is None
    assert bounce_address_read(address.replace("@cpor.example", "@evil.example")) is None
    assert bounce_address_read("bounces@cpor.example") is None
    assert bounce_address_read("") is None

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-0123456789abcdefghijklmnopqrstuvwxyz"
    assert bounce_address_read(address) == 42
    settings.SECRET_KEY_FALLBACKS = []
    assert bounce_address_read(address) is None


def test_bounce_dsn_reader_reads_each_recipient_block():
    raw = dsn(
        to="bounces+7-x@cpor.example",
        recipient="Dana@Northwind.example",
        original="dana@northwind.example",
        message_id="<m1@cpor.example>",
    )

    report = dsn_read(raw)

    (failure,) = report.permanent_failures()
    assert (failure.action, failure.status, failure.final_recipient, failure.original_recipient) == (
        "failed",
        "5.1.1",
        "dana@northwind.example",
        "dana@northwind.example",
    )
    assert report.message_id == "<m1@cpor.example>"
    assert "bounces+7-x@cpor.example" in report.delivered_to
