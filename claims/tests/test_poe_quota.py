"""The POE quota of a claim (SPEC §14, issue 14): at most POE_CLAIM_MAX_FILES files and POE_CLAIM_MAX_BYTES in all,
over its submission, answers, dispute and protections together, said on each form and enforced under the claim's
row lock in ``claim_poe_add``; files over it are refused at the drop zone with nothing stored and no history."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from claims import selectors
from claims.models import ClaimEvent, ClaimStatus, PendingUpload
from claims.services import claim_request_information
from claims.services.disputes import claim_protect
from claims.tests.factories import PDF_BYTES, claim_make, claim_make_official
from claims.uploads import PoeQuotaExceeded, PoeRoom, poe_check

pytestmark = pytest.mark.django_db
MB = 1024 * 1024
# filesizeformat keeps a number and its unit together with a no-break space.


@pytest.fixture
def official(partner_a, m365_tenant, products):
    return claim_make_official(partner_a, tenant=m365_tenant, product=products["microsoft-teams"])


def _pdfs(count, prefix="p", size=None):
    content = PDF_BYTES if size is None else PDF_BYTES + b"0" * (size - len(PDF_BYTES))
    return [SimpleUploadedFile(f"{prefix}{number}.pdf", content) for number in range(count)]


def _protect(client, claim, files, comment="Quarterly review with the customer."):
    return client.post(reverse("claims:protect", args=[claim.pk]), {"comment": comment, "files": files})


def _drop_zone(page, form_id):
    form = page.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]
    return form.split("data-poe-dropzone", 1)[1].split("</div>", 2)


def test_quota_protect_posts_until_the_quota_then_the_next_is_refused(client_a, official, s3_objects, settings):
    assert settings.POE_CLAIM_MAX_FILES == 20
    for post in range(4):  # 4 posts of 5 files: the claim's 20
        assert _protect(client_a, official, _pdfs(5, prefix=f"post{post}-")).status_code == 302
    assert official.documents.count() == 20
    assert official.events.filter(action="poe_added").count() == 4
    stored, events = set(s3_objects()), ClaimEvent.objects.count()

    response = _protect(client_a, official, _pdfs(1, prefix="late"))

    assert response.status_code == 400
    page = response.content.decode()
    zone = page.split('id="protect-files_error">', 1)[1].split("</div>", 1)[0]
    assert "This claim holds as many proof of execution files as a claim can (20 files, 100.0\xa0MB in all)" in zone
    assert "no more can be added." in zone
    assert '<details class="protect-details" open>' in page
    # Nothing stored, no history, no upload left behind.
    assert official.documents.count() == 20 and not official.documents.filter(original_name="late0.pdf").exists()
    assert set(s3_objects()) == stored and not PendingUpload.objects.exists()
    assert ClaimEvent.objects.count() == events


def test_quota_protect_over_the_room_left_says_how_much_is_left(client_a, official, s3_objects):
    for post in range(3):
        assert _protect(client_a, official, _pdfs(5, prefix=f"post{post}-")).status_code == 302
    assert _protect(client_a, official, _pdfs(2, prefix="more-")).status_code == 302
    stored = set(s3_objects())

    response = _protect(client_a, official, _pdfs(4))

    assert response.status_code == 400
    zone = response.content.decode().split('id="protect-files_error">', 1)[1].split("</div>", 1)[0]
    assert "You can add 3 more files (100.0\xa0MB in all) to this claim. Remove some of the files you chose" in zone
    assert set(s3_objects()) == stored and official.documents.count() == 17
    assert _protect(client_a, official, _pdfs(3, prefix="fits-")).status_code == 302
    assert official.documents.count() == 20


def test_quota_counts_bytes_over_answers_disputes_and_protections(
    client_a, partner_a, m365_tenant, products, reviewer, s3_objects, settings
):
    settings.POE_CLAIM_MAX_BYTES = 3 * MB
    claim = claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[products["yammer"]],
        status=ClaimStatus.UNDER_REVIEW,
        documents=[("first.pdf", PDF_BYTES + b"0" * (MB - len(PDF_BYTES)))],  # the submission's 1 MB
    )
    claim_request_information(claim=claim, user=reviewer, reason="poe_insufficient", message="Add the signed SOW.")
    url = reverse("claims:respond", args=[claim.pk])
    page = client_a.get(reverse("claims:detail", args=[claim.pk])).content.decode()
    assert "You can add 19 more files (2.0\xa0MB in all) to this claim." in page
    stored = set(s3_objects())

    response = client_a.post(url, {"comment": "Here it is.", "files": _pdfs(2, size=MB + 1)})

    assert response.status_code == 400
    page = response.content.decode()
    assert "You can add 19 more files (2.0\xa0MB in all) to this claim. Remove some of the files you chose" in page
    assert set(s3_objects()) == stored and claim.documents.count() == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.ACTION_REQUIRED
    assert client_a.post(url, {"comment": "Here it is.", "files": _pdfs(2, size=MB)}).status_code == 302
    assert claim.documents.count() == 3 and selectors.claim_poe_room(claim) == PoeRoom(files=17, bytes=0)


def test_quota_each_form_says_the_room_left_in_both_languages(client_a, official, partner_a):
    claim_protect(claim=official, user=partner_a.admin, comment="Q3.", files=[(f, poe_check(f)) for f in _pdfs(3)])

    page = client_a.get(reverse("claims:detail", args=[official.pk])).content.decode()

    zone = _drop_zone(page, "protect-form")[0]
    assert 'data-room-files="17"' in zone and f'data-room-bytes="{100 * MB - 3 * len(PDF_BYTES)}"' in zone
    assert "You can add 17 more files (100.0\xa0MB in all) to this claim." in page
    page = client_a.get(reverse("claims:detail", args=[official.pk]), HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "此宣告還可以再新增 17 個檔案（總共 100.0\xa0MB）。" in page  # noqa: RUF001 (zh-Hant punctuation)


def test_quota_is_checked_again_under_the_claims_row_lock(official, partner_a, monkeypatch, s3_objects, settings):
    """Two posts at once both find room before either stores a file: the second one, counting again under the
    claim's lock, is refused, and its stored files go again."""
    settings.POE_CLAIM_MAX_FILES = 6
    claim_protect(claim=official, user=partner_a.admin, comment="Q3.", files=[(f, poe_check(f)) for f in _pdfs(5)])
    stored, events = set(s3_objects()), ClaimEvent.objects.count()
    counted = selectors.claim_poe_room
    # The first look (outside the lock) sees the claim as it was before the other post.
    looks = iter([PoeRoom(files=6, bytes=100 * MB)])
    monkeypatch.setattr("claims.services.submission.claim_poe_room", lambda claim: next(looks, None) or counted(claim))

    with pytest.raises(PoeQuotaExceeded):
        claim_protect(claim=official, user=partner_a.admin, comment="Q4.", files=[(f, poe_check(f)) for f in _pdfs(2)])

    assert official.documents.count() == 5
    assert set(s3_objects()) == stored and not PendingUpload.objects.exists()
    assert ClaimEvent.objects.count() == events
