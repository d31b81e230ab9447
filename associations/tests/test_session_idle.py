"""Sessions end after 8 hours idle for partners and 30 minutes idle for reviewers (SPEC §14)."""

import datetime

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django_otp.oath import totp

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


# --- the absolute lifetime: from sign-in, whatever the activity ----------------------------------------------------


def test_session_lifetime_partner_active_all_week_is_signed_out_after_7_days(client, partner_a):
    _signed_in_partner(client, partner_a)

    # A request every 7 hours: never idle, for a week.
    for hours in range(7, 7 * 24, 7):
        assert _after(client, PARTNER_PAGE, datetime.timedelta(hours=hours)).status_code == 200, hours
    assert _after(client, PARTNER_PAGE, datetime.timedelta(days=7, minutes=-1)).status_code == 200
    # The session row ends at the lifetime, not 8 hours after the last request.
    assert Session.objects.get().expire_date == START + datetime.timedelta(days=7)

    response = _after(client, PARTNER_PAGE, datetime.timedelta(days=7, minutes=1))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_session_lifetime_reviewer_active_all_day_is_signed_out_after_12_hours(client, reviewer):
    with time_machine.travel(START, tick=False):
        reviewer_login(client, reviewer)
        assert client.get(ADMIN_PAGE).status_code == 200

    # A page every 25 minutes: never idle for 30, for 12 hours.
    for minutes in range(25, 12 * 60, 25):
        assert _after(client, ADMIN_PAGE, datetime.timedelta(minutes=minutes)).status_code == 200, minutes

    response = _after(client, ADMIN_PAGE, datetime.timedelta(hours=12, minutes=1))
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_session_lifetime_counts_from_the_latest_sign_in_of_the_session(client, reviewer):
    # A reviewer signs in with the password alone, stays active, and 11 hours later adds the TOTP code at the
    # admin's sign-in: Django keeps the session (the same user), the lifetime starts again from there.
    with time_machine.travel(START, tick=False):
        assert client.post("/login/", {"username": reviewer.email, "password": PASSWORD}).status_code == 302
    for minutes in range(25, 11 * 60, 25):
        assert _after(client, "/", datetime.timedelta(minutes=minutes))["Location"] == "/admin/"
    again = START + datetime.timedelta(hours=11)
    with time_machine.travel(again, tick=False):
        device = reviewer.totp_device
        code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
        session_key = client.session.session_key
        signed_in = client.post(
            "/admin/login/", {"username": reviewer.email, "password": PASSWORD, "otp_token": code, "next": "/admin/"}
        )
        assert signed_in["Location"] == "/admin/"
        assert client.session.session_key == session_key  # the same session, its data kept

    for minutes in range(11 * 60 + 25, 23 * 60, 25):
        assert _after(client, ADMIN_PAGE, datetime.timedelta(minutes=minutes)).status_code == 200, minutes
    assert _after(client, ADMIN_PAGE, datetime.timedelta(hours=23, minutes=1)).status_code == 302


def test_session_lifetime_comes_from_the_environment(client, partner_a, settings):
    settings.SESSION_LIFETIME_SECONDS_PARTNER = 10 * 60 * 60
    _signed_in_partner(client, partner_a)

    assert _after(client, PARTNER_PAGE, datetime.timedelta(hours=7)).status_code == 200
    assert _after(client, PARTNER_PAGE, datetime.timedelta(hours=10, minutes=1)).status_code == 302
