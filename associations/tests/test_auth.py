import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client

from associations.access import get_membership
from associations.auth import EmailBackend
from associations.tests.fixtures import PASSWORD, make_user, reviewer_login


def test_auth_get_user_loads_membership_and_partner_in_one_query(partner_a, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = EmailBackend().get_user(partner_a.admin.pk)
        membership = get_membership(user)
        assert membership.partner.name == "Contoso Partners"
    assert membership.role == "incentives_admin"


def test_auth_get_user_of_reviewer_has_no_membership_without_another_query(reviewer, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = EmailBackend().get_user(reviewer.pk)
        assert get_membership(user) is None
    assert user == reviewer


def test_auth_get_user_inactive_or_unknown_is_none(partner_a):
    partner_a.viewer.is_active = False
    partner_a.viewer.save()

    assert EmailBackend().get_user(partner_a.viewer.pk) is None
    assert EmailBackend().get_user(10**9) is None


def test_auth_sign_in_and_out_work_while_the_cache_is_down(client, partner_a, settings):
    # Sessions live in the database: a Redis outage must not lock partners out (or in).
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    response = client.post("/login/", {"username": partner_a.admin.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/incentives/customer-associations/").status_code == 200

    assert client.post("/logout/").status_code == 302
    assert client.get("/incentives/customer-associations/").status_code == 302


# --- passwords: at least 12 characters, not common, not like the account, wherever one is set ----------------------

TOO_SHORT = "This password is too short. It must contain at least 12 characters."


def test_auth_createsuperuser_without_input_refuses_a_short_password(monkeypatch, db):
    # Django checks the password of createsuperuser's interactive mode only (and lets it be bypassed there).
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "Sh0rt-pass!")
    arguments = ["createsuperuser", "--noinput", "--username", "root@cpor.example", "--email", "root@cpor.example"]

    with pytest.raises(CommandError, match=re.escape(TOO_SHORT)):
        call_command(*arguments, stdout=io.StringIO())
    assert not get_user_model().objects.filter(username="root@cpor.example").exists()

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "password1234")
    with pytest.raises(CommandError, match=re.escape("This password is too common.")):
        call_command(*arguments, stdout=io.StringIO())

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct-horse-battery-2026")
    call_command(*arguments, stdout=io.StringIO())
    assert get_user_model().objects.get(username="root@cpor.example").check_password("correct-horse-battery-2026")


def test_auth_admin_refuses_a_short_password_for_a_new_user(db):
    root = make_user("root@cpor.example", is_staff=True)
    root.is_superuser = True
    root.save()
    client = reviewer_login(Client(), root)

    response = client.post(
        "/admin/auth/user/add/",
        {"username": "new@partner-a.example", "usable_password": "true", "password1": "short", "password2": "short"},
    )

    assert response.status_code == 200
    assert TOO_SHORT in response.content.decode()
    assert not get_user_model().objects.filter(username="new@partner-a.example").exists()


def test_auth_a_short_password_is_never_saved_whatever_sets_it(partner_a):
    # A shell, a script, a data migration: set_password then save.
    user = get_user_model().objects.get(pk=partner_a.viewer.pk)
    user.set_password("Sh0rt-pass!")

    with pytest.raises(ValidationError, match=re.escape(TOO_SHORT)):
        user.save()
    user = get_user_model().objects.get(pk=partner_a.viewer.pk)
    assert user.check_password(PASSWORD)
    # Saving a user whose password did not change checks nothing.
    user.first_name = "Jamie"
    user.save()
    user.set_password("correct-horse-battery-2026")
    user.save()
    assert get_user_model().objects.get(pk=user.pk).check_password("correct-horse-battery-2026")
