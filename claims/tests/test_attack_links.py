"""Attacks on the customer's signed link (SPEC §7, §14): tampering, truncation, splicing, another salt or key,
expiry, a changed deadline and key rotation with SECRET_KEY_FALLBACKS. Every one gets the clear invalid or
expired page (never a 500) and a POST with it changes nothing."""

import datetime
import json

import pytest
import time_machine
from django.core import signing
from django.test import override_settings
from django.urls import reverse

from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification
from claims.tests.factories import claim_make
from claims.tokens import SALT, opt_out_token_make

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
DEADLINE = datetime.datetime(2026, 12, 3, 4, 59, 59, tzinfo=UTC)
BEFORE = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OLD_KEY = "old-secret-key-for-the-rotation-test-0123456789abcdefghijklmnopqrstuvwxyz"
NEW_KEY = "new-secret-key-for-the-rotation-test-0123456789abcdefghijklmnopqrstuvwxyz"
INVALID = "This link is not valid"
# Opting out of the claim's one product, confirmed (SPEC §7: a confirmation step first; the POST that acts).
OPT_OUT = {"action": "opt_out", "item": ["1"], "confirm": "1"}


@pytest.fixture(autouse=True)
def _before_deadline():
    with time_machine.travel(BEFORE, tick=False):
        yield


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    return claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["microsoft-teams"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=DEADLINE,
    )


@pytest.fixture
def other(partner_b, m365_tenant, products):
    return claim_make(
        partner_b,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=DEADLINE + datetime.timedelta(days=1),
    )


def _token(claim, deadline=None):
    return opt_out_token_make(submission_key=claim.submission_key, deadline=deadline or claim.opt_out_deadline)


def _url(token):
    return reverse("customer_opt_out", args=[token])


def _nothing_happened():
    assert set(Claim.objects.values_list("status", flat=True)) == {ClaimStatus.CUSTOMER_NOTIFIED}
    assert not ClaimEvent.objects.exists()
    # (The customer's notices the claims came with aside: claims.tests.factories.notices_make.)
    assert not EmailNotification.objects.exclude(kind="customer_notified").exists()


def _assert_refused(client, token, *, page=INVALID, status=404):
    """GET, HEAD and POST with ``token`` each get the clear page and change nothing."""
    for method in (client.get, client.head, client.post):
        response = method(_url(token), OPT_OUT) if method == client.post else method(_url(token))
        assert response.status_code == status, (method.__name__, token)
        if method.__name__ != "head":
            assert page in response.content.decode()
    _nothing_happened()


def _flip(text, index):
    """``text`` with the character at ``index`` replaced by another base64url character."""
    char = text[index]
    return text[:index] + ("A" if char != "A" else "B") + text[index + 1 :]


def test_attack_links_genuine_link_works(client, claim):
    # The baseline every other test departs from.
    assert client.get(_url(_token(claim))).status_code == 200
    assert client.post(_url(_token(claim)), OPT_OUT).status_code == 200
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPTED_OUT


def test_attack_links_tampered_payload_is_invalid(client, claim):
    token = _token(claim)
    payload = token.split(":")[0]

    for index in (0, len(payload) // 2, len(payload) - 1):
        _assert_refused(client, _flip(payload, index) + token[len(payload) :])


def test_attack_links_payload_rewritten_to_a_later_deadline_is_invalid(client, claim):
    # The attacker re-encodes the payload with a later expiry (the old signature kept).
    payload, rest = _token(claim).split(":", 1)
    data = json.loads(signing.b64_decode(payload.encode()))
    data["e"] += 86400 * 365
    forged = signing.b64_encode(json.dumps(data, separators=(",", ":")).encode()).decode()

    _assert_refused(client, f"{forged}:{rest}")


def test_attack_links_tampered_signature_or_timestamp_is_invalid(client, claim):
    token = _token(claim)
    payload, timestamp, signature = token.split(":")

    _assert_refused(client, f"{payload}:{timestamp}:{_flip(signature, 0)}")
    _assert_refused(client, f"{payload}:{timestamp}:{_flip(signature, len(signature) - 1)}")
    _assert_refused(client, f"{payload}:{_flip(timestamp, 0)}:{signature}")
    _assert_refused(client, f"{payload}:{timestamp}:{signature.upper()}")


def test_attack_links_truncated_token_is_invalid(client, claim):
    token = _token(claim)
    payload, timestamp, signature = token.split(":")

    for truncated in (
        token[:-1],
        token[: len(token) // 2],
        f"{payload}:{timestamp}",
        f"{payload}:{timestamp}:",
        payload,
        f"{payload}::{signature}",
        f":{timestamp}:{signature}",
        token[1:],
    ):
        _assert_refused(client, truncated)


def test_attack_links_other_claims_signature_spliced_is_invalid(client, claim, other):
    mine, theirs = _token(claim).split(":"), _token(other).split(":")

    # This claim's payload with the other link's signature, and the other way round.
    _assert_refused(client, f"{mine[0]}:{mine[1]}:{theirs[2]}")
    _assert_refused(client, f"{theirs[0]}:{theirs[1]}:{mine[2]}")
    _assert_refused(client, f"{mine[0]}:{theirs[1]}:{theirs[2]}")


def test_attack_links_other_salt_or_key_is_invalid(client, claim):
    payload = {"k": claim.submission_key.hex, "e": int(DEADLINE.timestamp())}

    _assert_refused(client, signing.dumps(payload, compress=False))  # Django's default salt
    _assert_refused(client, signing.dumps(payload, salt="cpor.claims.other", compress=False))
    _assert_refused(client, signing.dumps(payload, salt=SALT, key="a-key-that-is-not-ours-" * 3, compress=False))
    # A plain (untimed) signature of the same payload, as another part of Django would make it.
    _assert_refused(client, signing.Signer(salt=SALT).sign_object(payload))


@pytest.mark.parametrize(
    "payload",
    [
        ["k", "e"],
        "a string",
        {"k": "1" * 32},
        {"e": int(DEADLINE.timestamp())},
        {"k": "not-hex", "e": int(DEADLINE.timestamp())},
        {"k": 12345, "e": int(DEADLINE.timestamp())},
        {"k": None, "e": int(DEADLINE.timestamp())},
        {"k": "2" * 32, "e": "tomorrow"},
        {"k": "3" * 32, "e": 1e400},
        {"k": "4" * 32, "e": None},
        {"k": "5" * 32, "e": int(DEADLINE.timestamp()), "admin": True},
    ],
    ids=repr,
)
def test_attack_links_signed_but_malformed_payload_is_invalid(client, claim, payload):
    # Payloads only a holder of the key could sign and that we never issue: still the clear page, never a 500.
    _assert_refused(client, signing.dumps(payload, salt=SALT, compress=False))


def test_attack_links_signed_link_for_the_right_key_with_another_deadline_is_invalid(client, claim):
    # A genuine signature over this claim's key but an expiry the claim does not have.
    _assert_refused(client, _token(claim, deadline=DEADLINE + datetime.timedelta(days=30)))


def test_attack_links_link_past_its_deadline_lives_while_the_claim_does(client, claim):
    # Behaviour change (issue 17): a link no longer expires with its deadline; it lives while the claim awaits the
    # customer or an association from it lives (Decline later). Past the deadline it acts on nothing.
    token = _token(claim)

    for later in (DEADLINE + datetime.timedelta(seconds=1), DEADLINE + datetime.timedelta(days=400)):
        with time_machine.travel(later, tick=False):
            assert "The time to answer has passed" in client.get(_url(token)).content.decode()
            assert client.post(_url(token), OPT_OUT).status_code == 409
    _nothing_happened()


def test_attack_links_link_of_a_claim_whose_deadline_changed_is_invalid(client, claim):
    old = _token(claim)
    Claim.objects.filter(pk=claim.pk).update(opt_out_deadline=DEADLINE + datetime.timedelta(days=2))
    claim.refresh_from_db()

    _assert_refused(client, old)
    # The link made for the new deadline works.
    assert client.post(_url(_token(claim)), OPT_OUT).status_code == 200
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPTED_OUT


def test_attack_links_odd_tokens_never_give_a_500(client, claim):
    for token in ("x" * 100_000, "é" * 50, "a:b:c:d:e", ".", "..:..:..", "%20", "null", "{}"):
        _assert_refused(client, token)


def test_attack_links_key_rotation_old_key_works_while_it_is_a_fallback(client, claim):
    with override_settings(SECRET_KEY=OLD_KEY, SECRET_KEY_FALLBACKS=[]):
        token = _token(claim)

    with override_settings(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[OLD_KEY]):
        assert client.get(_url(token)).status_code == 200
        # Links made after the rotation are signed with the new key.
        assert _token(claim) != token
        assert client.get(_url(_token(claim))).status_code == 200
        assert client.post(_url(token), OPT_OUT).status_code == 200
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.OPTED_OUT


def test_attack_links_key_rotation_old_key_stops_working_once_removed(client, claim):
    with override_settings(SECRET_KEY=OLD_KEY, SECRET_KEY_FALLBACKS=[]):
        token = _token(claim)

    with override_settings(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[]):
        _assert_refused(client, token)
    # Nor does a link signed with a key that was never ours become valid by being listed elsewhere.
    with override_settings(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=["some-other-old-key-" * 3]):
        _assert_refused(client, token)


def test_attack_links_token_holds_no_database_id_or_personal_data(claim):
    token = _token(claim)
    payload = token.split(":")[0]
    data = json.loads(signing.b64_decode(payload.encode()))

    # Exactly the random submission key (not the claim's id) and the expiry, nothing else.
    assert data == {"k": claim.submission_key.hex, "e": int(DEADLINE.timestamp())}
    assert claim.submission_key.hex != f"{claim.pk:032x}"
    text = json.dumps(data)
    for secret in (
        claim.customer_contact_email,
        claim.customer_contact_name,
        claim.partner_contact_email,
        claim.domain,
        str(claim.directory_id),
        claim.directory_id.hex,
        claim.tenant.name,
        claim.partner.name,
        claim.name,
    ):
        assert secret.lower() not in text.lower()
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:")
