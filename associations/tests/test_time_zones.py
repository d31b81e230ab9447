"""Each user's own time zone (SPEC §15): guessed from the browser at sign-in, saved beside the language, changed on
the settings page in both languages; zones named by their city ("Taipei time", 「台北時間」), never by their IANA
name or an offset."""

import datetime
import re

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from associations.models import Tenant, UserPreference
from associations.tests.fixtures import PASSWORD
from associations.zones import country_time_zone, time_zone_valid, zone_label, zone_time
from claims.models import ClaimStatus
from claims.tests.factories import claim_make

pytestmark = pytest.mark.django_db
COOKIE = settings.TIME_ZONE_COOKIE_NAME


def _sign_in(client, user, **extra):
    return client.post(reverse("login"), {"username": user.email, "password": PASSWORD, **extra})


def test_time_zone_first_sign_in_saves_the_browsers_zone(client, partner_a):
    response = _sign_in(client, partner_a.admin, time_zone="Asia/Taipei")

    assert response.status_code == 302
    assert UserPreference.objects.get(user=partner_a.admin).time_zone == "Asia/Taipei"
    assert response.cookies[COOKIE].value == "Asia/Taipei"
    assert response.cookies[COOKIE]["httponly"]


def test_time_zone_saved_choice_wins_over_the_browser_and_follows_the_user(client, partner_a):
    UserPreference.objects.create(user=partner_a.admin, language="en", time_zone="Europe/Berlin")

    response = _sign_in(client, partner_a.admin, time_zone="Asia/Tokyo")  # a trip: the saved choice stays

    assert response.cookies[COOKIE].value == "Europe/Berlin"
    assert UserPreference.objects.get(user=partner_a.admin).time_zone == "Europe/Berlin"


@pytest.mark.parametrize("sent", ["", "Mars/Olympus_Mons", "Etc/GMT+3", "<script>", "A" * 300])
def test_time_zone_unknown_browser_zone_is_ignored(client, partner_a, sent):
    response = _sign_in(client, partner_a.admin, time_zone=sent)

    assert response.status_code == 302
    assert response.cookies[COOKIE].value == "UTC"
    assert not UserPreference.objects.filter(user=partner_a.admin).exclude(time_zone="").exists()


def test_time_zone_sign_in_page_sends_the_browsers_zone_by_a_script_of_its_own(client):
    html = client.get(reverse("login")).content.decode()
    assert '<input type="hidden" name="time_zone" value="" data-browser-time-zone>' in html
    assert '<script src="/static/js/time-zone.js" defer></script>' in html
    assert "<script>" not in html  # no inline script: the CSP allows none


def test_time_zone_settings_page_changes_language_and_zone(client_a, partner_a):
    page = client_a.get(reverse("preferences"))
    assert page.status_code == 200
    html = page.content.decode()
    assert '<option value="Asia/Taipei">Taipei</option>' in html
    assert '<optgroup label="Asia">' in html
    assert "Asia/Taipei</option>" not in html  # the zone's IANA name is a value, never a label

    response = client_a.post(reverse("preferences"), {"language": "zh-hant", "time_zone": "Asia/Taipei"})

    assert response.status_code == 302 and response["Location"] == reverse("preferences")
    preference = UserPreference.objects.get(user=partner_a.admin)
    assert (preference.language, preference.time_zone) == ("zh-hant", "Asia/Taipei")
    assert response.cookies[COOKIE].value == "Asia/Taipei"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"
    html = client_a.get(reverse("preferences")).content.decode()
    assert "已儲存您的設定。" in html
    assert '<option value="Asia/Taipei" selected>台北</option>' in html
    assert "時間均以台北時間顯示。" in html


def test_time_zone_settings_page_refuses_an_unknown_zone_with_a_message(client_a, partner_a):
    response = client_a.post(reverse("preferences"), {"language": "en", "time_zone": "Mars/Olympus_Mons"})

    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert not UserPreference.objects.filter(user=partner_a.admin).exists()


def test_time_zone_settings_page_needs_a_sign_in(client):
    response = client.get(reverse("preferences"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.put(reverse("preferences")).status_code in (302, 405)


def test_time_zone_bad_cookie_is_ignored(client_a, partner_a, m365_tenant, products):
    claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])
    client_a.cookies[COOKIE] = "Not/A_Zone"
    html = client_a.get(reverse("claims:list")).content.decode()
    assert "Times on this page are in UTC (your time zone)." in html


@pytest.mark.parametrize(
    ("zone", "english", "chinese"),
    [
        ("Asia/Taipei", "Taipei time", "台北時間"),
        ("Asia/Tokyo", "Tokyo time", "東京時間"),
        ("America/New_York", "New York time", "紐約時間"),
        ("America/Sao_Paulo", "São Paulo time", "聖保羅時間"),
        ("Australia/Sydney", "Sydney time", "雪梨時間"),
        ("Asia/Calcutta", "Kolkata time", "加爾各答時間"),  # an old name browsers still report
        ("America/Indiana/Indianapolis", "Indianapolis time", "Indianapolis時間"),  # not in the table: its city
    ],
)
def test_time_zone_named_by_its_city_in_both_languages(zone, english, chinese):
    with translation.override("en"):
        assert zone_label(zone) == english
    with translation.override("zh-hant"):
        assert zone_label(zone) == chinese


def test_time_zone_a_time_with_its_city_reads_as_each_language_writes_it():
    with translation.override("en"):
        assert zone_time("Asia/Taipei", "23:59") == "23:59 Taipei time"
    with translation.override("zh-hant"):
        assert zone_time("Asia/Taipei", "23:59") == "台北時間 23:59"


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("TW", "Asia/Taipei"),
        ("US", "America/New_York"),
        ("AU", "Australia/Sydney"),  # not Lord Howe Island's, the tz database's first
        ("BR", "America/Sao_Paulo"),  # not Fernando de Noronha's
        ("CA", "America/Toronto"),
        ("DE", "Europe/Berlin"),
        ("JP", "Asia/Tokyo"),
        ("XX", "UTC"),
    ],
)
def test_time_zone_country_main_zone(country, zone):
    assert country_time_zone(country).key == zone


def test_time_zone_valid_keys_only():
    assert time_zone_valid("Europe/Paris") == "Europe/Paris"
    assert time_zone_valid("Asia/Calcutta") == "Asia/Kolkata"
    for bad in ("", "Etc/GMT-11", "US/Eastern", "../../etc/passwd", "+11"):
        assert time_zone_valid(bad) is None, bad


@pytest.mark.parametrize("country", ["AU", "BR", "TW", "JP"])
def test_time_zone_pages_never_show_an_iana_name_or_an_offset(client_a, partner_a, products, country, settings):
    tenant = Tenant.objects.create(
        directory_id="00000000-0000-4000-8000-0000000000" + {"AU": "01", "BR": "02", "TW": "03", "JP": "04"}[country],
        name=f"Customer {country}",
        country=country,
    )
    deadline = datetime.datetime(2026, 12, 1, 12, 59, 59, tzinfo=datetime.UTC)
    claim = claim_make(
        partner_a,
        tenant=tenant,
        products=[products["yammer"]],
        status=ClaimStatus.CUSTOMER_NOTIFIED,
        opt_out_deadline=deadline,
        customer_notified_at=deadline - datetime.timedelta(days=7),
    )
    client_a.cookies[COOKIE] = "Europe/London"
    for url in (reverse("claims:list"), reverse("claims:detail", args=[claim.pk])):
        for language in ("en", "zh-TW"):
            html = client_a.get(url, headers={"accept-language": language}).content.decode()
            for zone in ("Australia/", "America/", "Asia/", "Europe/"):
                assert zone not in html, (url, language, zone)
            text = re.sub(r"<[^>]+>", " ", html.split("<main", 1)[1])  # what a reader sees, no attributes
            assert not re.search(r"\d\d:\d\d(:\d\d)? ?(UTC|GMT)?[+-]\d", text), (url, language)
            assert ("London" in html) or ("倫敦" in html)
