"""Sessions end after 8 hours idle for partners and 30 minutes idle for reviewers (SPEC §14)."""

import datetime

import pytest
import time_machine
from django.contrib.sessions.models import Session

from associations.tests.fixtures import PASSWORD, reviewer_login

pytestmark = pytest.mark.django_db
START = datetime.datetime(2026, 11, 30, 9, 0, tzinfo=datetime.UTC)
PARTNER_PAGE = "/incentives/customer-associations/"
ADMIN_PAGE = "/admin/claims/claim/"


def _signed_in_partner(client, partner_a):
    with time_machine.travel(START, tick=False):
        assert client.post("/login/", {"username": partner_a.admin.email, "password": PASSWORD}).status_code == 302
    return client


def _after(client, url, delta):
    with time_machine.travel(START + delta, tick=False):
        return client.get(url)


@pytest.mark.parametrize(
    "idle, status", [(datetime.timedelta(hours=7, minutes=59), 200), (datetime.timedelta(hours=8, minutes=1), 302)]
)
def test_session_idle_partner_survives_7h59_and_ends_after_8h01(client, partner_a, idle, status):
    _signed_in_partner(client, partner_a)

    response = _after(client, PARTNER_PAGE, idle)

    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/login/")


def test_session_idle_partner_activity_slides_the_expiry(client, partner_a):
    _signed_in_partner(client, partner_a)

    # Active every 7 hours for a day: never idle for 8.
    for hours in (7, 14, 21):
        assert _after(client, PARTNER_PAGE, datetime.timedelta(hours=hours)).status_code == 200
    assert _after(client, PARTNER_PAGE, datetime.timedelta(hours=29, minutes=1)).status_code == 302


def test_session_idle_the_sign_in_itself_sets_the_partner_limit(client, partner_a):
    _signed_in_partner(client, partner_a)

    # The session row ends 8 hours after sign-in, not after Django's default two weeks.
    session = Session.objects.get()
    assert session.expire_date == START + datetime.timedelta(hours=8)


@pytest.mark.parametrize("idle, status", [(datetime.timedelta(minutes=29), 200), (datetime.timedelta(minutes=31), 302)])
def test_session_idle_reviewer_survives_29_min_and_ends_after_31(client, reviewer, idle, status):
    with time_machine.travel(START, tick=False):
        reviewer_login(client, reviewer)
        assert client.get(ADMIN_PAGE).status_code == 200

    response = _after(client, ADMIN_PAGE, idle)

    assert response.status_code == status
    if status == 302:
        assert response["Location"].startswith("/admin/login/")


def test_session_idle_reviewer_signed_in_on_the_partner_page_gets_30_minutes(client, reviewer):
    with time_machine.travel(START, tick=False):
        assert client.post("/login/", {"username": reviewer.email, "password": PASSWORD}).status_code == 302

    assert Session.objects.get().expire_date == START + datetime.timedelta(minutes=30)


def test_session_idle_pages_within_half_a_minute_do_not_rewrite_the_session(client, partner_a):
    _signed_in_partner(client, partner_a)
    _after(client, PARTNER_PAGE, datetime.timedelta(minutes=1))
    expire_date = Session.objects.get().expire_date

    _after(client, PARTNER_PAGE, datetime.timedelta(minutes=1, seconds=20))

    assert Session.objects.get().expire_date == expire_date


def test_session_idle_healthz_does_not_touch_the_session(client, partner_a):
    _signed_in_partner(client, partner_a)
    expire_date = Session.objects.get().expire_date

    _after(client, "/healthz", datetime.timedelta(hours=1))

    assert Session.objects.get().expire_date == expire_date
