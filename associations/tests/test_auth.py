from associations.access import get_membership
from associations.auth import EmailBackend


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
