"""Reviewers (SPEC §8, §14): a Reviewers group with only what review needs, evidence nobody deletes in admin, and
the admin's sign-in with a TOTP code."""

import base64
import datetime
import io
import re
import subprocess
import sys

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from associations.demo import REVIEWER_TOTP_SECRET
from associations.models import Association, UserPreference
from associations.tests.fixtures import PASSWORD, make_user, reviewer_login
from claims.models import Claim, ClaimEvent, ClaimStatus, EmailNotification, PoeDocument
from claims.reviewers import reviewers_group_ensure
from claims.services.drafts import claims_expire_drafts
from claims.tests.factories import claim_make
from cpor.tests.test_settings_env import PRODUCTION, ROOT, deployment_env

pytestmark = pytest.mark.django_db

EXPECTED_PERMISSIONS = {
    "associations.view_association",
    "associations.view_membership",
    "associations.view_partner",
    "associations.view_partnerlocation",
    "associations.view_product",
    "associations.view_subscription",
    "associations.view_tenant",
    "associations.view_tenantdomain",
    "associations.view_tenantlicense",
    "associations.view_usagerecord",
    "claims.change_claim",
    "claims.change_emailnotification",
    "claims.view_claim",
    "claims.view_claimevent",
    "claims.view_claimitem",
    "claims.view_emailnotification",
    "claims.view_poedocument",
}


def _group_permissions():
    group = Group.objects.get(name="Reviewers")
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def _token(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    return claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW)


@pytest.fixture
def superuser_client(db):
    user = make_user("root@cpor.example", is_staff=True)
    user.is_superuser = True
    user.save()
    return reviewer_login(Client(), user)


# --- the group ------------------------------------------------------------------------------------------------------


def test_reviewers_group_exists_after_migrate_with_exactly_the_review_permissions(db):
    assert _group_permissions() == EXPECTED_PERMISSIONS


def test_reviewers_group_ensure_is_idempotent_and_undoes_drift(db):
    group = Group.objects.get(name="Reviewers")
    group.permissions.add(*_permissions("associations", "add_association", "delete_association"))

    reviewers_group_ensure()
    reviewers_group_ensure()

    assert Group.objects.filter(name="Reviewers").count() == 1
    assert _group_permissions() == EXPECTED_PERMISSIONS


def _permissions(app_label, *codenames):
    from django.contrib.auth.models import Permission

    return list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))


def test_reviewers_group_never_deletes_evidence_nor_touches_associations(db):
    permissions = _group_permissions()

    assert not {p for p in permissions if p.split(".")[1].startswith("delete_")}
    assert not {p for p in permissions if p.startswith("associations.") and not p.split(".")[1].startswith("view_")}
    assert not {p for p in permissions if p.startswith(("auth.", "axes.", "otp_totp."))}


def test_reviewers_fixture_is_a_group_member_not_a_superuser(reviewer):
    assert (reviewer.is_staff, reviewer.is_superuser) == (True, False)
    assert reviewer.has_perm("claims.change_claim")
    assert not reviewer.has_perm("claims.delete_claimevent")
    assert not reviewer.has_perm("associations.add_association")


# --- admin: what nobody may do --------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["reviewer_client", "superuser_client"])
def test_reviewers_admin_nobody_deletes_history_or_poe(request, who, claim):
    client = request.getfixturevalue(who)
    event = ClaimEvent.objects.filter(claim=claim).first() or ClaimEvent.objects.create(
        claim=claim, actor="system", action="validated", old_status="submitted", new_status="under_review"
    )
    document = PoeDocument.objects.get(claim=claim)

    assert client.get(f"/admin/claims/claimevent/{event.pk}/delete/").status_code == 403
    assert client.post(f"/admin/claims/claimevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"/admin/claims/poedocument/{document.pk}/delete/").status_code == 403
    assert client.get("/admin/claims/poedocument/add/").status_code == 403
    assert client.get(f"/admin/claims/claim/{claim.pk}/delete/").status_code == 403
    assert 'value="delete_selected"' not in client.get("/admin/claims/claimevent/").content.decode()
    assert 'value="delete_selected"' not in client.get("/admin/claims/poedocument/").content.decode()
    assert ClaimEvent.objects.filter(pk=event.pk).exists()
    assert PoeDocument.objects.filter(pk=document.pk).exists()


@pytest.mark.parametrize("who", ["reviewer_client", "superuser_client"])
def test_reviewers_admin_nobody_adds_or_deletes_an_association_by_hand(request, who, partner_a, m365_tenant, products):
    client = request.getfixturevalue(who)
    association = Association.objects.create(
        partner=partner_a.partner,
        location=partner_a.location,
        program="osu_m365",
        tenant=m365_tenant,
        product=products["microsoft-teams"],
        status=Association.Status.ACTIVE,
        source=Association.Source.IMPORTED,
    )

    assert client.get("/admin/associations/association/add/").status_code == 403
    assert client.get(f"/admin/associations/association/{association.pk}/delete/").status_code == 403
    assert Association.objects.filter(pk=association.pk).exists()


def test_reviewers_admin_reviewer_sees_associations_read_only(reviewer_client, partner_a, m365_tenant, products):
    association = Association.objects.create(
        partner=partner_a.partner,
        location=partner_a.location,
        program="osu_m365",
        tenant=m365_tenant,
        product=products["microsoft-teams"],
        status=Association.Status.ACTIVE,
        source=Association.Source.IMPORTED,
    )
    url = f"/admin/associations/association/{association.pk}/change/"

    assert reviewer_client.get(url).status_code == 200
    assert reviewer_client.post(url, {"status": "ended"}).status_code == 403
    association.refresh_from_db()
    assert association.status == Association.Status.ACTIVE


@pytest.mark.parametrize(
    "url", ["/admin/auth/user/", "/admin/auth/group/", "/admin/otp_totp/totpdevice/", "/admin/axes/accessattempt/"]
)
def test_reviewers_admin_reviewer_manages_no_accounts(reviewer_client, url):
    assert reviewer_client.get(url).status_code == 403


# --- admin: reviewers never see drafts -----------------------------------------------------------------------------


def _claim_admins():
    """Every model admin of the site that shows claims or their parts: Claim, and the models with a claim key."""
    return {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if model is Claim
        or any(field.many_to_one and field.related_model is Claim for field in model._meta.get_fields())
    }


@pytest.fixture
def unfinished(partner_a, m365_tenant, products):
    """A draft and a draft that expired (with its EXPIRED event), each with a POE row and an outbox row, and a
    submitted claim with the same parts, which reviewers do see."""
    now = timezone.now()
    draft = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.DRAFT)
    expired = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.DRAFT,
        draft_saved_at=now - datetime.timedelta(days=40),
    )
    claims_expire_drafts(now=now)
    submitted = claim_make(
        partner_a, tenant=m365_tenant, products=[products["yammer"]], status=ClaimStatus.UNDER_REVIEW
    )
    ClaimEvent.objects.create(
        claim=submitted, actor="system", action="validated", old_status="submitted", new_status="under_review"
    )
    for claim in (draft, expired, submitted):
        EmailNotification.objects.create(claim=claim, kind=EmailNotification.Kind.REJECTED)
    return {"hidden": [draft, expired], "seen": submitted}


def test_reviewers_admin_every_claim_admin_reads_through_the_reviewers_selector(rf, reviewer, unfinished):
    admins = _claim_admins()
    request = rf.get("/admin/")
    request.user = reviewer
    hidden = [claim.pk for claim in unfinished["hidden"]]

    assert set(admins) == {Claim, ClaimEvent, PoeDocument, EmailNotification}
    for model, model_admin in admins.items():
        claim_key = "pk" if model is Claim else "claim_id"
        rows = model_admin.get_queryset(request)
        assert not rows.filter(**{f"{claim_key}__in": hidden}).exists(), model.__name__
        assert rows.filter(**{claim_key: unfinished["seen"].pk}).exists(), model.__name__
    # The rows are there: only the admin leaves them out.
    assert ClaimEvent.objects.filter(claim__in=hidden, action="expired").count() == 1
    assert PoeDocument.objects.filter(claim__in=hidden).count() == 2


def test_reviewers_admin_pages_of_a_drafts_parts_are_not_found(reviewer_client, unfinished):
    draft, expired = unfinished["hidden"]
    expired_event = ClaimEvent.objects.get(claim=expired)
    rows = {
        "claim": [draft, expired],
        "claimevent": [expired_event],
        "poedocument": list(PoeDocument.objects.filter(claim__in=[draft, expired])),
        "emailnotification": list(EmailNotification.objects.filter(claim__in=[draft, expired])),
    }
    seen = unfinished["seen"]
    seen_rows = {
        "claim": seen,
        "claimevent": ClaimEvent.objects.get(claim=seen),
        "poedocument": PoeDocument.objects.get(claim=seen),
        "emailnotification": EmailNotification.objects.get(claim=seen),
    }

    for name, objects in rows.items():
        listing = reviewer_client.get(
            f"/admin/claims/{name}/", {"delivery": "all"} if name == "emailnotification" else {}
        )
        assert listing.status_code == 200
        page = listing.content.decode()
        assert f"/admin/claims/{name}/{seen_rows[name].pk}/change/" in page
        for obj in objects:
            assert f"/admin/claims/{name}/{obj.pk}/change/" not in page
            for view in ("change", "history"):
                response = reviewer_client.get(f"/admin/claims/{name}/{obj.pk}/{view}/")
                # Django's answer for a row that is not there: back to the admin's home page, with a message.
                assert (response.status_code, response["Location"]) == (302, "/admin/"), (name, view)
        assert reviewer_client.get(f"/admin/claims/{name}/{seen_rows[name].pk}/change/").status_code == 200
    for document in rows["poedocument"]:
        assert reviewer_client.get(f"/admin/claims/claim/{document.claim_id}/poe/{document.pk}/").status_code == 404
    # A draft's uploads in progress are no reviewer's business at all.
    assert reviewer_client.get("/admin/claims/pendingupload/").status_code == 403
    # The history's status filter offers no draft statuses either.
    assert "new_status__exact=expired" not in reviewer_client.get("/admin/claims/claimevent/").content.decode()


# --- admin sign-in with a TOTP code ---------------------------------------------------------------------------------


def test_reviewers_admin_login_form_asks_for_the_code(client, db):
    html = client.get("/admin/login/").content.decode()

    assert 'name="otp_token"' in html
    assert 'name="password"' in html


def test_reviewers_admin_login_with_password_and_code_lets_the_reviewer_in(client, reviewer):
    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": reviewer.email,
            "password": PASSWORD,
            "otp_token": _token(reviewer.totp_device),
            "next": "/admin/",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/claims/claim/").status_code == 200


def test_reviewers_admin_login_saves_the_browsers_time_zone_as_the_partners_sign_in_does(client, reviewer):
    html = client.get("/admin/login/").content.decode()
    assert '<input type="hidden" name="time_zone" value="" data-browser-time-zone>' in html
    assert '<script src="/static/js/time-zone.js" defer></script>' in html

    client.post(
        "/admin/login/?next=/admin/",
        {
            "username": reviewer.email,
            "password": PASSWORD,
            "otp_token": _token(reviewer.totp_device),
            "time_zone": "Asia/Taipei",
        },
    )

    assert UserPreference.objects.get(user=reviewer).time_zone == "Asia/Taipei"


@pytest.mark.parametrize("token", ["", "000000", "not-a-code"])
def test_reviewers_admin_login_without_the_right_code_keeps_the_reviewer_out(client, reviewer, token):
    if token == "000000" and _token(reviewer.totp_device) == token:
        token = "111111"

    response = client.post("/admin/login/", {"username": reviewer.email, "password": PASSWORD, "otp_token": token})

    assert response.status_code == 200
    assert client.get("/admin/claims/claim/").status_code == 302


def test_reviewers_admin_password_only_session_is_sent_to_the_code(client, reviewer):
    # Signed in on the partners' page with the password alone: the admin still wants the code.
    assert client.post("/login/", {"username": reviewer.email, "password": PASSWORD}).status_code == 302

    response = client.get("/admin/claims/claim/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_reviewers_admin_staff_without_a_device_cannot_get_in(client, db):
    user = make_user("new-reviewer@cpor.example", is_staff=True)
    TOTPDevice.objects.filter(user=user).delete()

    client.post("/admin/login/", {"username": user.email, "password": PASSWORD, "otp_token": "123456"})

    assert client.get("/admin/claims/claim/").status_code == 302


def test_reviewers_totp_device_create_prints_a_working_secret(db):
    user = make_user("someone@cpor.example", is_staff=True)
    out = io.StringIO()

    call_command("totp_device_create", "Someone@cpor.example", stdout=out)

    secret = out.getvalue().split("(base32) for someone@cpor.example: ")[1].split()[0]
    (device,) = TOTPDevice.objects.filter(user=user)
    assert base64.b32decode(secret) == device.bin_key
    assert device.confirmed


# --- the demo reviewer ----------------------------------------------------------------------------------------------


def test_reviewers_seed_demo_reviewer_signs_in_with_the_printed_secret(db, settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    output = out.getvalue()
    assert f"oathtool --totp -b {REVIEWER_TOTP_SECRET}" in output

    reviewer = get_user_model().objects.get(username="reviewer@cpor.example")
    (device,) = TOTPDevice.objects.filter(user=reviewer, confirmed=True)
    assert base64.b32encode(device.bin_key).decode() == REVIEWER_TOTP_SECRET
    client = Client()
    client.post(
        "/admin/login/",
        {"username": "reviewer@cpor.example", "password": "cpor-demo-2026", "otp_token": _token(device)},
    )
    assert client.get("/admin/claims/claim/").status_code == 200


def test_reviewers_seed_demo_refuses_to_run_with_debug_off(tmp_path):
    # Before any database access: the database named here does not even exist.
    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo"],
        cwd=ROOT,
        env=deployment_env(tmp_path, **PRODUCTION, DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "seed_demo creates demo logins with a public password and TOTP secret" in result.stderr
    assert "runs only with DEBUG=1" in result.stderr


def test_reviewers_admin_wrong_codes_slow_down_guessing(client, reviewer):
    # A stolen password is not enough: after a wrong code, django-otp refuses even the right one for a while
    # (doubling with each failure), so six digits cannot be guessed at request speed.
    wrong = "111111" if _token(reviewer.totp_device) != "111111" else "222222"
    client.post("/admin/login/", {"username": reviewer.email, "password": PASSWORD, "otp_token": wrong})

    response = client.post(
        "/admin/login/", {"username": reviewer.email, "password": PASSWORD, "otp_token": _token(reviewer.totp_device)}
    )

    # The page says what it says for any failure (django-otp's own "Verification temporarily disabled" would tell
    # that the password was right): test_reviewers_admin_login_failures_all_look_the_same.
    assert response.status_code == 200
    assert SIGNIN_FAILED in response.content.decode()
    assert client.get("/admin/claims/claim/").status_code == 302
    reviewer.totp_device.refresh_from_db()
    assert reviewer.totp_device.throttling_failure_count == 1


SIGNIN_FAILED = (
    "That email, password and code do not sign you in. Check all three and try again; after a wrong code, wait a "
    "minute before the next."
)


def _without_tokens(html):
    """A page without what every response draws anew: the CSRF token and the CSP nonce."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"|nonce="[^"]+"', "", html)


def test_reviewers_admin_login_failures_all_look_the_same(reviewer):
    """A wrong password, or the right one with a wrong, empty or throttled code: the same page, word for word, so
    the TOTP step never tells whoever has a password whether it is right (OWASP ASVS L2)."""
    right = _token(reviewer.totp_device)
    wrong = "111111" if right != "111111" else "222222"
    attempts = {
        "wrong password": {"password": "not-the-password", "otp_token": right},
        "wrong password, no code": {"password": "not-the-password", "otp_token": ""},
        "wrong code": {"password": PASSWORD, "otp_token": wrong},
        "no code": {"password": PASSWORD, "otp_token": ""},
        "right code, throttled after a wrong one": {"password": PASSWORD, "otp_token": right},
    }
    pages = {}
    for what, fields in attempts.items():
        response = Client().post("/admin/login/", {"username": reviewer.email, **fields})
        assert response.status_code == 200, what
        pages[what] = _without_tokens(response.content.decode())

    assert SIGNIN_FAILED in pages["wrong password"]
    assert PASSWORD not in pages["wrong code"]  # django-otp would render the right password back into the form
    assert {what: page == pages["wrong password"] for what, page in pages.items()} == dict.fromkeys(attempts, True)
