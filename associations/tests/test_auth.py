from associations.access import get_membership
from associations.auth import EmailBackend
from associations.tests.fixtures import PASSWORD


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
