"""Password reset by email (SPEC §14), end to end through the test client and the mail outbox."""

import re

import pytest
from django.contrib.auth import SESSION_KEY

from associations.tests.fixtures import PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-new-long-passphrase-2027"


def _reset_link(message, settings):
    match = re.search(re.escape(settings.SITE_URL) + r"(/password-reset/[^/\s]+/[^/\s]+/)", message.body)
    assert match, message.body
    return match.group(1)


def test_password_reset_login_page_links_to_it(client):
    html = client.get("/login/").content.decode()

    assert '<a href="/password-reset/">Forgot your password?</a>' in html


def test_password_reset_by_email_end_to_end(client, partner_a, mailoutbox, settings):
    user = partner_a.admin
    page = client.get("/password-reset/")
    assert page.status_code == 200
    assert "Reset your password" in page.content.decode()

    # The address as people type it: any case.
    response = client.post("/password-reset/", {"email": user.email.upper()})
    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    assert "Check your email" in client.get(response["Location"]).content.decode()

    (message,) = mailoutbox
    assert message.to == [user.email]
    assert message.subject == "Reset your CPOR claims password"
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    link = _reset_link(message, settings)

    # Django's confirm view swaps the token for a session marker, then shows the form.
    form_url = client.get(link)["Location"]
    assert form_url.endswith("/set-password/")
    form = client.get(form_url)
    assert "Choose a new password" in form.content.decode()
    done = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done["Location"] == "/password-reset/done/"
    assert "Password changed" in client.get(done["Location"]).content.decode()

    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert client.post("/login/", {"username": user.email, "password": PASSWORD}).status_code == 200
    assert client.post("/login/", {"username": user.email, "password": NEW_PASSWORD}).status_code == 302
    assert SESSION_KEY in client.session

    # The link works once.
    client.post("/logout/")
    again = client.get(link, follow=True)
    assert "This link does not work any more" in again.content.decode()


def test_password_reset_link_is_built_on_site_url_not_the_host_header(client, partner_a, mailoutbox, settings):
    # Whoever asks for a reset controls the Host header; a link to their server would leak the token.
    settings.ALLOWED_HOSTS = ["*"]
    settings.SITE_URL = "https://claims.cpor.example"

    client.post("/password-reset/", {"email": partner_a.admin.email}, HTTP_HOST="evil.example")

    (message,) = mailoutbox
    assert "https://claims.cpor.example/password-reset/" in message.body
    assert "evil.example" not in message.body


def test_password_reset_unknown_address_says_the_same_and_sends_nothing(client, db, mailoutbox):
    # The answer does not tell who has an account.
    response = client.post("/password-reset/", {"email": "nobody@nowhere.example"})

    assert response.status_code == 302
    assert response["Location"] == "/password-reset/sent/"
    assert mailoutbox == []


def test_password_reset_weak_new_password_is_refused(client, partner_a, mailoutbox, settings):
    client.post("/password-reset/", {"email": partner_a.admin.email})
    form_url = client.get(_reset_link(mailoutbox[0], settings))["Location"]

    response = client.post(form_url, {"new_password1": "password", "new_password2": "password"})

    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    partner_a.admin.refresh_from_db()
    assert partner_a.admin.check_password(PASSWORD)
