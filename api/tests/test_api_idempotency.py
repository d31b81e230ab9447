"""Every POST under an Idempotency-Key: the same key gets the same answer and does the work once, also when two
requests race; the key with another body is 422."""

import json
import threading
import urllib.request

from api.models import IdempotencyRecord
from api.tests.conftest import NORTHWIND, pdf
from claims.models import Claim, PendingUpload


def test_api_idempotency_post_replayed_three_times_gives_the_same_answer_and_one_claim(api_a, m365_tenant):
    headers = {"Idempotency-Key": "crm-create-0001"}
    answers = [api_a.post("/claims", NORTHWIND, headers=headers) for _ in range(4)]
    assert {a.status_code for a in answers} == {201}
    assert len({a.content for a in answers}) == 1
    assert [a.has_header("Idempotent-Replayed") for a in answers] == [False, True, True, True]
    assert Claim.objects.count() == 1


def test_api_idempotency_same_key_with_another_body_is_422_and_does_nothing(api_a, m365_tenant):
    api_a.post("/claims", NORTHWIND, headers={"Idempotency-Key": "k1"})
    other = api_a.post("/claims", {**NORTHWIND, "name": "Another"}, headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert other["Content-Type"] == "application/problem+json"
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert Claim.objects.count() == 1


def test_api_idempotency_multipart_sent_again_is_the_same_request(api_a, m365_tenant):
    claim_id = api_a.post("/claims", NORTHWIND).json()["id"]
    first = api_a.post(f"/claims/{claim_id}/poe", files={"file": pdf()}, headers={"Idempotency-Key": "u1"})
    again = api_a.post(f"/claims/{claim_id}/poe", files={"file": pdf()}, headers={"Idempotency-Key": "u1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert PendingUpload.objects.count() == 1


def test_api_idempotency_an_error_answer_is_kept_too_but_not_a_rate_limit(api_a, m365_tenant, settings):
    refused = api_a.post("/claims", {**NORTHWIND, "directory_id": "nope"}, headers={"Idempotency-Key": "e1"})
    assert refused.status_code == 422
    assert IdempotencyRecord.objects.filter(key="e1", status_code=422).exists()
    settings.API_RATE_LIMIT_PER_MINUTE = 1
    api_a.get("/claims")
    limited = api_a.post("/claims", NORTHWIND, headers={"Idempotency-Key": "e2"})
    assert limited.status_code == 429
    assert not IdempotencyRecord.objects.filter(key="e2").exists()


def test_api_idempotency_two_threads_racing_with_one_key_create_one_claim(live_server, key_a, m365_tenant):
    """Two real requests at once (the live server's threads, their own database connections) with one key, then
    three replays: one claim, one answer."""
    body = json.dumps(NORTHWIND).encode()
    answers = []
    barrier = threading.Barrier(2)

    def post():
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/claims",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {key_a}",
                "Content-Type": "application/json",
                "Idempotency-Key": "race-1",
            },
        )
        barrier.wait(timeout=10)
        with urllib.request.urlopen(request, timeout=30) as response:
            answers.append((response.status, response.read()))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    barrier.reset()
    for _ in range(3):
        request = urllib.request.Request(
            f"{live_server.url}/api/v1/claims",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {key_a}",
                "Content-Type": "application/json",
                "Idempotency-Key": "race-1",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answers.append((response.status, response.read()))
    assert len(answers) == 5
    assert {status for status, _ in answers} == {201}
    assert len({content for _, content in answers}) == 1
    assert Claim.objects.count() == 1


def test_api_idempotency_without_a_key_each_post_acts(api_a, m365_tenant):
    api_a.post("/claims", NORTHWIND)
    api_a.post("/claims", {**NORTHWIND, "name": "Second"})
    assert Claim.objects.count() == 2
