"""Webhooks (SPEC §16): written with the history row that causes them, signed per Standard Webhooks and checked by
a real HTTP receiver on loopback, retried after a failure, never delivered twice after a success; an endpoint
failing for three days is disabled and its owner emailed; addresses inside the network are refused (SSRF) before
any socket connects."""

import datetime
import http.server
import json
import socket
import threading

import pytest
import time_machine
from django.core.exceptions import ValidationError
from standardwebhooks.webhooks import Webhook

from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from api.services.webhooks import deliveries_send_due, webhook_delivery_redeliver, webhook_endpoint_create
from associations.models import Product
from claims.models import ClaimStatus, EmailNotification, InformationReason
from claims.services import claim_approve, claim_request_information
from claims.tests.factories import claim_make

T0 = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)


class Receiver:
    """A real HTTP server on 127.0.0.1 that checks each message's Standard Webhooks signature with the endpoint's
    secret and answers with the next of ``statuses`` (then 200)."""

    def __init__(self):
        self.secret = None
        self.statuses = []
        self.received = []  # (verified payload or None, headers)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                except Exception:
                    payload = None
                receiver.received.append((payload, dict(self.headers)))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"try later")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/cpor-hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def loopback(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


def _request_information(claim, reviewer):
    return claim_request_information(
        claim=claim, user=reviewer, reason=InformationReason.OTHER, message="Which users use Teams?"
    )


def test_webhook_signed_delivery_verified_by_a_real_receiver_retried_after_500_and_never_twice(
    partner_a, m365_tenant, reviewer, receiver, loopback
):
    endpoint = webhook_endpoint_create(
        partner=partner_a.partner,
        user=partner_a.admin,
        url=receiver.url,
        event_types=[WebhookEvent.INFORMATION_REQUESTED, WebhookEvent.STATUS_CHANGED],
    )
    receiver.secret = endpoint.secret
    receiver.statuses = [500]
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    with time_machine.travel(T0, tick=False):
        _request_information(claim, reviewer)
        delivery = WebhookDelivery.objects.get()
        assert delivery.event_type == WebhookEvent.INFORMATION_REQUESTED  # the most specific type picked
        assert deliveries_send_due() == 0
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert delivery.next_attempt_at > T0
    with time_machine.travel(T0 + datetime.timedelta(seconds=10), tick=False):
        assert deliveries_send_due() == 0  # not due yet: its backoff
    with time_machine.travel(delivery.next_attempt_at + datetime.timedelta(seconds=1), tick=False):
        assert deliveries_send_due() == 1
    delivery.refresh_from_db()
    assert delivery.state == "delivered"
    assert len(receiver.received) == 2
    payloads = [payload for payload, _headers in receiver.received]
    assert payloads[0] is not None and payloads[1] == payloads[0]  # both verified with the secret
    assert payloads[1]["type"] == "claim.information_requested"
    assert payloads[1]["data"]["claim"]["id"] == claim.pk
    assert payloads[1]["data"]["event"]["new_status"] == "action_required"
    assert receiver.received[0][1]["webhook-id"] == receiver.received[1][1]["webhook-id"]
    for days in (1, 5):
        with time_machine.travel(T0 + datetime.timedelta(days=days), tick=False):
            assert deliveries_send_due() == 0
            assert deliveries_send_due(ids=[delivery.pk]) == 0
    assert len(receiver.received) == 2
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == 2


def test_webhook_a_tampered_body_fails_the_signature(partner_a, m365_tenant, reviewer, receiver, loopback):
    endpoint = webhook_endpoint_create(
        partner=partner_a.partner, user=partner_a.admin, url=receiver.url, event_types=[WebhookEvent.STATUS_CHANGED]
    )
    receiver.secret = endpoint.secret
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    claim_approve(claim=claim, user=reviewer)
    deliveries_send_due()
    payload, headers = receiver.received[0]
    assert payload["type"] == "claim.status_changed"
    body = json.dumps({**payload, "type": "association.official"}, separators=(",", ":"))
    with pytest.raises(Exception, match="signature"):
        Webhook(endpoint.secret).verify(body, headers)


def test_webhook_redeliver_sends_a_delivered_event_again_once(partner_a, m365_tenant, reviewer, receiver, loopback):
    endpoint = webhook_endpoint_create(
        partner=partner_a.partner, user=partner_a.admin, url=receiver.url, event_types=[WebhookEvent.STATUS_CHANGED]
    )
    receiver.secret = endpoint.secret
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    _request_information(claim, reviewer)
    deliveries_send_due()
    delivery = WebhookDelivery.objects.get()
    assert webhook_delivery_redeliver(delivery=delivery)
    assert deliveries_send_due() == 1
    assert deliveries_send_due() == 0
    assert len(receiver.received) == 2
    assert WebhookAttempt.objects.filter(delivery=delivery, redelivery=True).count() == 1


def test_webhook_events_reach_only_their_partners_endpoints_of_the_chosen_types(
    partner_a, partner_b, m365_tenant, reviewer, loopback, receiver
):
    a = webhook_endpoint_create(
        partner=partner_a.partner,
        user=partner_a.admin,
        url=receiver.url,
        event_types=[WebhookEvent.ASSOCIATION_OFFICIAL],
    )
    b = webhook_endpoint_create(
        partner=partner_b.partner, user=partner_b.admin, url=receiver.url, event_types=list(WebhookEvent.values)
    )
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    _request_information(claim, reviewer)
    assert not WebhookDelivery.objects.filter(endpoint__in=[a, b]).exists()


def test_webhook_endpoint_failing_for_three_days_is_disabled_and_its_owner_emailed_once(
    partner_a, m365_tenant, reviewer, receiver, loopback
):
    endpoint = webhook_endpoint_create(
        partner=partner_a.partner, user=partner_a.admin, url=receiver.url, event_types=[WebhookEvent.STATUS_CHANGED]
    )
    receiver.secret = endpoint.secret
    receiver.statuses = [503] * 100
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    with time_machine.travel(T0, tick=False):
        _request_information(claim, reviewer)
    moment = T0
    while moment < T0 + datetime.timedelta(days=4):
        with time_machine.travel(moment, tick=False):
            deliveries_send_due()
        moment += datetime.timedelta(hours=6, minutes=1)
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_at >= T0 + datetime.timedelta(days=3)
    emails = EmailNotification.objects.filter(kind="webhook_disabled")
    assert [(e.address, e.user_id, e.reference) for e in emails] == [
        (partner_a.admin.email, partner_a.admin.pk, str(endpoint.pk))
    ]
    from claims.emails import notification_email

    message = notification_email(emails[0])
    assert endpoint.url in message.body
    attempts = len(receiver.received)
    with time_machine.travel(T0 + datetime.timedelta(days=5), tick=False):
        deliveries_send_due()
    assert len(receiver.received) == attempts  # disabled: nothing more is sent


# --- SSRF -----------------------------------------------------------------------------------------------------------

INSIDE = {"internal.example": "10.0.0.1", "metadata.example": "169.254.169.254", "loop.example": "::1"}


class Resolver:
    """A stubbed resolver (``names``: host -> address, changeable) and a guard that fails the test on any socket
    connect (the tests send traffic only to 127.0.0.1, and these must send none): both only inside ``with
    resolver:``, around the code under test (the test bed's own S3 and database stay reachable outside)."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.names = dict(INSIDE)
        self.connects = []

    def getaddrinfo(self, host, port, *args, **kwargs):
        address = self.names[host]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
        return [(family, socket.SOCK_STREAM, 6, "", sockaddr)]

    def no_connect(self, *args, **kwargs):
        self.connects.append(args)
        raise AssertionError(f"a socket connected: {args}")

    def __enter__(self):
        self.monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)
        self.monkeypatch.setattr(socket, "create_connection", self.no_connect)
        self.monkeypatch.setattr(socket.socket, "connect", self.no_connect)
        self.monkeypatch.setattr(socket.socket, "connect_ex", self.no_connect)
        return self

    def __exit__(self, *exc):
        self.monkeypatch.undo()


@pytest.fixture
def resolver(monkeypatch):
    return Resolver(monkeypatch)


@pytest.mark.parametrize("host", sorted(INSIDE))
def test_webhook_ssrf_endpoint_inside_the_network_is_refused_at_registration(partner_a, resolver, host, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    with resolver, pytest.raises(ValidationError) as refused:
        webhook_endpoint_create(
            partner=partner_a.partner,
            user=partner_a.admin,
            url=f"https://{host}/hook",
            event_types=[WebhookEvent.STATUS_CHANGED],
        )
    assert "private, loopback, link-local or reserved" in str(refused.value.message_dict["url"])
    assert not WebhookEndpoint.objects.exists()
    assert resolver.connects == []


@pytest.mark.parametrize("inside", sorted(INSIDE.values()))
def test_webhook_ssrf_name_moved_inside_after_registration_is_refused_before_any_connect(
    partner_a, m365_tenant, reviewer, resolver, inside, settings
):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    resolver.names["crm.partner.example"] = "93.184.216.34"
    with resolver:
        endpoint = webhook_endpoint_create(
            partner=partner_a.partner,
            user=partner_a.admin,
            url="https://crm.partner.example/hook",
            event_types=[WebhookEvent.STATUS_CHANGED],
        )
    resolver.names["crm.partner.example"] = inside  # DNS now points inside
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    _request_information(claim, reviewer)
    with resolver:
        assert deliveries_send_due() == 0
    attempt = WebhookAttempt.objects.get(delivery__endpoint=endpoint)
    assert "private, loopback, link-local or reserved" in attempt.error
    assert attempt.status_code is None
    assert resolver.connects == []


@pytest.mark.parametrize(
    ("url", "allow"),
    [
        ("http://crm.partner.example/hook", False),
        ("https://user:pw@crm.partner.example/", False),
        ("http://crm.partner.example/hook", True),
        ("ftp://crm.partner.example/", False),
    ],
)
def test_webhook_ssrf_plain_http_credentials_and_other_schemes_are_refused(partner_a, resolver, url, allow, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = allow
    resolver.names["crm.partner.example"] = "93.184.216.34"
    with resolver, pytest.raises(ValidationError):
        webhook_endpoint_create(
            partner=partner_a.partner, user=partner_a.admin, url=url, event_types=[WebhookEvent.STATUS_CHANGED]
        )
    assert resolver.connects == []


def test_webhook_ssrf_delivery_connects_to_the_address_checked_without_a_second_lookup(
    partner_a, m365_tenant, reviewer, receiver, monkeypatch, settings
):
    """The name resolves to the receiver's loopback address when checked, and inside the network on any later
    lookup (a DNS rebinding): the message still goes to the address that was checked."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    answers = ["127.0.0.1"]

    def getaddrinfo(host, port, *args, **kwargs):
        address = answers.pop(0) if answers else "10.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    port = receiver.server.server_address[1]
    endpoint = WebhookEndpoint.objects.create(
        partner=partner_a.partner,
        created_by=partner_a.admin,
        url=f"http://rebind.example:{port}/hook",
        event_types=[WebhookEvent.STATUS_CHANGED],
        secret="whsec_" + "A" * 44,
    )
    receiver.secret = endpoint.secret
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    _request_information(claim, reviewer)
    with monkeypatch.context() as patched:
        patched.setattr(socket, "getaddrinfo", getaddrinfo)
        assert deliveries_send_due() == 1
    assert answers == []  # asked once, at the check
    assert len(receiver.received) == 1
    assert receiver.received[0][1]["Host"] == f"rebind.example:{port}"


@pytest.fixture
def worker_loopback(monkeypatch, settings):
    """Loopback endpoints allowed here and in the Celery worker this test starts (it reads the environment)."""
    monkeypatch.setenv("WEBHOOKS_ALLOW_LOOPBACK", "1")
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


def test_webhook_delivered_by_a_real_celery_worker_from_the_outbox_after_commit(
    worker_loopback, celery_worker, partner_a, m365_tenant, reviewer, receiver
):
    """The delivery row is written with the history row; after commit the task is sent, and a real worker (its own
    process and database connection) signs and delivers it to the receiver."""
    import time

    endpoint = webhook_endpoint_create(
        partner=partner_a.partner, user=partner_a.admin, url=receiver.url, event_types=[WebhookEvent.STATUS_CHANGED]
    )
    receiver.secret = endpoint.secret
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[Product.objects.get(code="microsoft-teams")],
        status=ClaimStatus.UNDER_REVIEW,
    )
    claim_approve(claim=claim, user=reviewer)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and WebhookDelivery.objects.get().state != "delivered":
        time.sleep(0.2)
    assert WebhookDelivery.objects.get().state == "delivered"
    assert [payload["data"]["event"]["new_status"] for payload, _ in receiver.received] == ["customer_notified"]
