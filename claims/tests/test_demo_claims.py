"""The demo claims (SPEC §12, issue item 6): every status, each claim's history following its own dates, in order and
in the past, a hash chain that verifies, and a second seed that changes nothing."""

import datetime
import email
import email.policy
import io
import itertools
import shutil

import pytest
import time_machine
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from claims.demo import DEMO_CLAIMS
from claims.models import Claim, ClaimEvent, ClaimStatus, PoeDocument
from conftest import module_data

NOW = datetime.datetime(2026, 11, 24, 10, 0, tzinfo=datetime.UTC)


def demo_seed(mail_dir):
    """seed_demo as `make run` runs it, at NOW, its emails written to ``mail_dir``; returns what it printed."""
    out = io.StringIO()
    # seed_demo runs only with DEBUG on
    with override_settings(DEBUG=True, MAIL_DIR=mail_dir), time_machine.travel(NOW, tick=False):
        call_command("seed_demo", stdout=out)
    return out.getvalue()


def demo_claims():
    """The demo's claims by name."""
    return {claim.name: claim for claim in Claim.objects.filter(name__in=[n for n, _, _ in DEMO_CLAIMS])}


@pytest.fixture(scope="module")
def demo_seeded(django_db_setup, django_db_blocker, tmp_path_factory):
    """seed_demo run once for the module's tests (every one of which uses it): what it printed and where it wrote the
    Taiwanese customer's email. Each test sees the demo as seeded, in a savepoint of its own rolled back after it."""
    mail_dir = tmp_path_factory.mktemp("demo-mail")
    with module_data(django_db_blocker):
        yield demo_seed(mail_dir), mail_dir


@pytest.fixture
def seeded(demo_seeded, db, settings, tmp_path):
    """The demo's claims by name; what seed_demo wrote to its mail directory is copied to the test's own."""
    output, mail_dir = demo_seeded
    settings.MAIL_DIR = shutil.copytree(mail_dir, tmp_path / "mail")
    settings.DEBUG = True  # seed_demo runs only with DEBUG on
    seeded = demo_claims()
    seeded_output[id(seeded)] = output
    return seeded


# What seed_demo printed, by the fixture's dict.
seeded_output = {}


def _events(claim):
    return list(claim.events.order_by("id"))


def test_demo_claims_in_every_status(seeded):
    assert len(seeded) == len(DEMO_CLAIMS)
    assert {claim.status for claim in seeded.values()} == set(ClaimStatus.values)


def test_demo_claims_events_follow_the_claims_own_dates(seeded):
    for name, claim in seeded.items():
        events = _events(claim)
        times = [event.created_at for event in events]
        assert times == sorted(times), name  # in the order they happened (the hash chain's order)
        assert all(time <= NOW for time in times), name
        if claim.status == ClaimStatus.DRAFT:
            assert events == [], name  # a draft has no history yet
            assert claim.draft_saved_at <= NOW
            continue
        moves = [event for event in events if event.new_status]
        # The last move is the claim's status, dated when it changed; each move starts where the previous ended.
        assert moves[-1].new_status == claim.status, name
        assert moves[-1].created_at == claim.status_changed_at, name
        for before, after in itertools.pairwise(moves):
            assert after.old_status == before.new_status, name
        if claim.status != ClaimStatus.EXPIRED:
            assert events[0].action == ClaimEvent.Action.SUBMITTED
            assert events[0].created_at == claim.submitted_at, name
        if claim.customer_notified_at:
            approved = next(event for event in events if event.action == ClaimEvent.Action.APPROVED)
            assert approved.created_at == claim.customer_notified_at, name
            assert claim.customer_notified_at < claim.opt_out_deadline, name
        if claim.disputed_at:
            disputed = next(event for event in events if event.action == ClaimEvent.Action.DISPUTED)
            assert disputed.created_at == claim.disputed_at, name
        for document in claim.documents.all():
            assert claim.submitted_at <= document.uploaded_at <= NOW, name


def test_demo_claims_the_new_lifes(seeded):
    asked = _events(seeded["Demo · partner action required"])
    actions = [event.action for event in asked]
    assert actions.count(ClaimEvent.Action.INFORMATION_REQUESTED) == 2
    first, second = (i for i, a in enumerate(actions) if a == ClaimEvent.Action.INFORMATION_REQUESTED)
    between = asked[first + 1 : second]
    assert {e.field for e in between if e.action == ClaimEvent.Action.CHANGED} == {
        "location",
        "customer_contact_name",
        "customer_contact_email",
    }
    assert between[-1].action == ClaimEvent.Action.RESPONDED
    claim = seeded["Demo · partner action required"]
    assert claim.customer_contact_name == "Morgan Lee"  # the claim holds the changed values
    assert claim.response_deadline > NOW > asked[second].created_at

    official = seeded["Demo · official"]
    assert _events(official)[-1].action == ClaimEvent.Action.POE_ADDED
    assert PoeDocument.objects.filter(claim=official).count() == 2

    rejected = seeded["Demo · rejected"]
    assert rejected.disputed_at is None
    assert NOW - rejected.status_changed_at < datetime.timedelta(days=30)  # still within its dispute window

    final = _events(seeded["Demo · rejected (final)"])
    assert [e.action for e in final if e.new_status][-3:] == ["rejected", "disputed", "dispute_rejected"]

    expired = seeded["Demo · expired draft"]
    assert [e.action for e in _events(expired)] == ["expired"]
    assert expired.status_changed_at - expired.draft_saved_at > datetime.timedelta(days=30)

    draft = seeded["Demo · draft"]
    assert draft.draft_data["step"] == "activity"
    assert draft.draft_data["step_data"]["customer"]["customer-location"] == [draft.location.mpn_id]


def test_demo_claims_history_verifies_and_second_seed_changes_nothing(seeded, settings):
    out = io.StringIO()
    call_command("claims_history_verify", stdout=out)
    assert out.getvalue().startswith("OK:")
    # Every submitted demo claim's history carries what it holds (SPEC §14): all but the draft and the expired one.
    submitted = len(DEMO_CLAIMS) - 2
    assert f"OK: every claim as its history says (status; columns, items and POE of {submitted})." in out.getvalue()
    events = ClaimEvent.objects.count()
    with time_machine.travel(NOW + datetime.timedelta(hours=1), tick=False):
        call_command("seed_demo", stdout=io.StringIO())
    assert Claim.objects.filter(name__in=seeded).count() == len(seeded)
    assert ClaimEvent.objects.count() == events


def test_demo_claims_pages_show_their_deadlines_and_history(seeded, client):
    from django.contrib.auth import get_user_model

    alex = get_user_model().objects.get(username="alex@contoso-partners.example")
    with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
        client.force_login(alex)
        page = client.get(reverse("claims:list")).content.decode()
        assert "Waiting for your answer" in page and "Waiting for the reviewer" in page
        assert "You may dispute the rejection until then" in page
        detail = client.get(reverse("claims:detail", args=[seeded["Demo · partner action required"].pk]))
    html = detail.content.decode()
    assert "Changed Customer contact name: Morgan Customer → Morgan Lee" in html
    assert "Changed MPN ID: 4100002 → 4100001" in html


def test_demo_claims_past_their_deadline_become_official_at_the_next_sweep(seeded):
    """`make run`'s promise: beat's first finalization makes the two demo claims past their deadline official (each
    has its delivered notice, which PostgreSQL asks of it); the one still in its window waits."""
    from claims.models import EmailNotification
    from claims.services import claims_finalize_due

    notified = [claim for claim in seeded.values() if claim.status == ClaimStatus.CUSTOMER_NOTIFIED]
    assert len(notified) == 5  # with the Taiwanese customer's and the competing one (still in their window)
    for claim in notified:
        notice = EmailNotification.objects.get(claim=claim, kind="customer_notified")
        assert (notice.state, notice.sent_at) == ("sent", claim.customer_notified_at)

    assert claims_finalize_due(now=NOW + datetime.timedelta(minutes=1)) == 2

    statuses = {claim.name: Claim.objects.get(pk=claim.pk).status for claim in notified}
    assert statuses == {
        "Demo · awaiting customer": ClaimStatus.CUSTOMER_NOTIFIED,
        "Demo · awaiting customer (Taiwan)": ClaimStatus.CUSTOMER_NOTIFIED,
        "Demo · competing, awaiting customer": ClaimStatus.CUSTOMER_NOTIFIED,
        "Demo · awaiting customer, deadline passed": ClaimStatus.OFFICIAL,
        "Demo · awaiting customer, deadline passed (Fabrikam)": ClaimStatus.OFFICIAL,
    }


def test_demo_claims_a_taiwanese_customer_awaits_with_its_notice_delivered(seeded, settings):
    """Issue 15: the customer's side in zh-Hant, one click from the README: the Taiwanese customer's notice (its
    email file and its page), counted in Taiwan's calendar and named by Taipei's time."""
    from claims.demo import TAIWAN_CLAIM, TAIWAN_EMAIL
    from claims.models import EmailNotification

    claim = seeded[TAIWAN_CLAIM]
    assert claim.tenant.country == "TW" and claim.tenant.time_zone.key == "Asia/Taipei"
    assert claim.tenant.language == "zh-hant"
    assert claim.status == ClaimStatus.CUSTOMER_NOTIFIED
    notice = EmailNotification.objects.get(claim=claim, kind="customer_notified")
    assert (notice.state, notice.sent_at) == ("sent", claim.customer_notified_at)
    assert claim.opt_out_deadline > NOW and claim.due_at == claim.opt_out_deadline
    # Its deadline ends a Taipei day: 23:59:59 there.
    local = claim.opt_out_deadline.astimezone(claim.tenant.time_zone)
    assert (local.hour, local.minute, local.second) == (23, 59, 59)

    message = email.message_from_bytes((settings.MAIL_DIR / TAIWAN_EMAIL).read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Contoso Partners 要求成為您的記錄合作夥伴"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "台北時間" in body and "Asia/Taipei" not in body
    assert f"參考編號：{claim.number}" in body  # noqa: RUF001 (zh-Hant punctuation)
    link = next(line.strip() for line in body.splitlines() if "/customer/opt-out/" in line)
    output = seeded_output[id(seeded)]
    assert f"page:  {link}" in output and TAIWAN_EMAIL in output
    with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
        from django.test import Client

        page = Client().get(link.replace(settings.SITE_URL, "")).content.decode()
    assert '<html lang="zh-Hant">' in page and "台北時間" in page


def test_demo_claims_the_taiwanese_customer_can_answer_per_product_and_decline_later(seeded, settings):
    """Issue 17: the Taiwanese customer's claim waits with two workloads (opt out of one, approve the other), and an
    official association of two workloads can be ended from the customer's link, its email in var/mail."""
    from django.test import Client

    from claims.demo import TAIWAN_CLAIM, TAIWAN_OFFICIAL_CLAIM, TAIWAN_OFFICIAL_EMAIL

    assert seeded[TAIWAN_CLAIM].items.count() == 2
    official = seeded[TAIWAN_OFFICIAL_CLAIM]
    assert official.status == ClaimStatus.OFFICIAL and official.tenant.country == "TW"
    assert official.items.filter(association__status="active").count() == 2

    message = email.message_from_bytes(
        (settings.MAIL_DIR / TAIWAN_OFFICIAL_EMAIL).read_bytes(), policy=email.policy.default
    )
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = next(line.strip() for line in body.splitlines() if "/customer/opt-out/" in line)
    assert f"page:  {link}" in seeded_output[id(seeded)]
    customer = Client()
    with time_machine.travel(NOW + datetime.timedelta(minutes=5), tick=False):
        path = link.replace(settings.SITE_URL, "")
        page = customer.get(path).content.decode()
        assert 'value="decline"' in page and "解除關聯" in page
        customer.post(path, {"action": "decline", "item": ["1"], "confirm": "1", "reason": "自行管理"})
    official.refresh_from_db()
    assert official.status == ClaimStatus.OFFICIAL
    assert official.items.filter(association__status="active").count() == 1
    assert official.events.filter(action="item_declined", actor="customer").count() == 1
