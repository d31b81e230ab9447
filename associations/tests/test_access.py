import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from associations.access import admin_role_required, get_membership, partner_required, scoped
from associations.models import SolutionArea
from associations.tests.fixtures import PASSWORD
from claims.models import Claim


def _claim(actor, tenant, **fields):
    """A claim row made directly with the ORM, every required field filled."""
    return Claim.objects.create(
        partner=actor.partner,
        location=actor.location,
        created_by=actor.admin,
        name=f"Claim of {actor.partner.name} for {tenant.name}",
        domain=tenant.primary_domain,
        directory_id=tenant.directory_id,
        tenant=tenant,
        solution_area=SolutionArea.MICROSOFT_365,
        activities=["usage"],
        customer_contact_name="Dana Customer",
        customer_contact_title="IT manager",
        customer_contact_email="dana@northwindtraders.example",
        partner_contact_name="Pat Partner",
        partner_contact_email="pat@partner.example",
        **fields,
    )


@pytest.fixture
def claim_b(partner_b, m365_tenant):
    return _claim(partner_b, m365_tenant)


@pytest.fixture
def claim_a(partner_a, m365_tenant):
    return _claim(partner_a, m365_tenant)


def test_claim_detail_of_another_partner_is_404(client, partner_a, claim_b):
    client.force_login(partner_a.admin)

    response = client.get(reverse("claims:detail", args=[claim_b.pk]))

    assert response.status_code == 404
    assert claim_b.name.encode() not in response.content


def test_claim_detail_of_another_partner_is_404_for_its_viewer_too(client, partner_a, claim_b):
    client.force_login(partner_a.viewer)

    assert client.get(reverse("claims:detail", args=[claim_b.pk])).status_code == 404


def test_claim_detail_of_own_partner_is_shown(client, partner_a, claim_a):
    client.force_login(partner_a.viewer)

    response = client.get(reverse("claims:detail", args=[claim_a.pk]))

    assert response.status_code == 200
    assert claim_a.name in response.content.decode()


def test_claim_detail_unknown_id_is_404(client_a):
    assert client_a.get(reverse("claims:detail", args=[999999])).status_code == 404


@pytest.mark.parametrize("url_name", ["claims:list", "claims:detail"])
def test_partner_pages_redirect_anonymous_users_to_login(client, claim_b, url_name):
    url = reverse(url_name, args=[claim_b.pk] if url_name == "claims:detail" else [])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("url_name", ["claims:list", "claims:detail"])
def test_partner_pages_are_404_for_a_staff_reviewer_without_a_partner(client, reviewer, claim_b, url_name):
    client.force_login(reviewer)
    url = reverse(url_name, args=[claim_b.pk] if url_name == "claims:detail" else [])

    assert client.get(url).status_code == 404


def test_home_sends_each_kind_of_user_to_their_start_page(client, partner_a, reviewer):
    assert client.get("/")["Location"] == reverse("login")
    client.force_login(partner_a.viewer)
    assert client.get("/")["Location"] == reverse("claims:list")
    client.force_login(reviewer)
    assert client.get("/")["Location"] == reverse("admin:index")


def test_get_membership_is_none_for_anonymous_and_reviewers(partner_a, reviewer):
    assert get_membership(AnonymousUser()) is None
    assert get_membership(reviewer) is None
    assert get_membership(partner_a.admin).partner == partner_a.partner


def _view(request):
    return HttpResponse(request.partner.name)


def _request(user):
    request = RequestFactory().get("/incentives/x/")
    request.user = user
    return request


def test_admin_role_required_refuses_an_incentives_user_with_403(partner_a):
    view = admin_role_required(_view)

    assert view(_request(partner_a.admin)).content == partner_a.partner.name.encode()
    with pytest.raises(PermissionDenied):
        view(_request(partner_a.viewer))


def test_partner_required_is_404_for_a_user_of_no_partner(reviewer):
    with pytest.raises(Http404):
        partner_required(_view)(_request(reviewer))


def test_scoped_limits_rows_to_the_requesting_partner(partner_a, claim_a, claim_b):
    request = _request(partner_a.admin)
    request.partner = partner_a.partner

    assert list(scoped(Claim.objects.all(), request)) == [claim_a]


def test_login_sends_a_partner_user_to_customer_associations(client, partner_a):
    response = client.post(reverse("login"), {"username": partner_a.viewer.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("claims:list")


def test_login_sends_a_reviewer_to_the_admin_not_to_a_404(client, reviewer):
    response = client.post(reverse("login"), {"username": reviewer.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    # The admin then asks for the reviewer's TOTP code (SPEC §14): the password alone does not let them in.
    admin = client.get(response["Location"], follow=True)
    assert admin.redirect_chain == [("/admin/login/?next=/admin/", 302)]
    assert "also needs the code from your authenticator app" in admin.content.decode()


def test_login_keeps_next_for_a_reviewer(client, reviewer):
    response = client.post(
        reverse("login"), {"username": reviewer.email, "password": PASSWORD, "next": "/admin/claims/claim/"}
    )

    assert response["Location"] == "/admin/claims/claim/"
