"""``Idempotency-Key`` on every POST (SPEC §16): the same key gets the same answer, a different request with the
same key 422, and two requests racing with one key do the work once.

1. The key's record is inserted (unique per API key and Idempotency-Key) before the operation runs, in its own
   committed statement: of two racing requests one inserts it, the other finds it.
2. The one that inserted it runs the operation and stores the answer (status, headers that matter, body); an
   answer that says nothing about the request (5xx, 401, 429) is not kept: the record goes and the key may be
   sent again.
3. The other waits (up to WAIT_SECONDS) for the answer, then replays it; still running then: 409 with
   Retry-After. A record started by a process that died is taken over after STALE_SECONDS.

The request is compared by a fingerprint of its method, path and query, and of its body as data (JSON parsed;
a form's fields and its files' SHA-256), so that a multipart body sent again with another boundary is the same.
"""

import datetime
import functools
import hashlib
import json
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import IdempotencyRecord
from api.problems import problem_response

WAIT_SECONDS = 10.0
STALE_SECONDS = 120
KEPT_HEADERS = ("Location",)
NOT_KEPT = {401, 429}


def request_fingerprint(request):
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}?{request.META.get('QUERY_STRING', '')}\n".encode())
    if request.content_type == "multipart/form-data" or request.content_type == "application/x-www-form-urlencoded":
        for name in sorted(request.POST):
            digest.update(json.dumps([name, request.POST.getlist(name)]).encode())
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                file_digest = hashlib.sha256()
                for chunk in upload.chunks():
                    file_digest.update(chunk)
                upload.seek(0)
                digest.update(json.dumps([name, upload.name, file_digest.hexdigest()]).encode())
    else:
        body = request.body
        try:
            digest.update(json.dumps(json.loads(body), sort_keys=True).encode())
        except ValueError:
            digest.update(body)
    return digest.hexdigest()


def _replay(record):
    response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type)
    for name, value in (record.headers or {}).items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def _record_start(*, api_key, key, request, fingerprint):
    """(record, True) when this request runs the operation, else (the existing record, False)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                api_key=api_key,
                key=key,
                method=request.method,
                path=request.path,
                fingerprint=fingerprint,
                created_at=now,
                started_at=now,
            )
        return record, True
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.get(api_key=api_key, key=key)
    if record.fingerprint == fingerprint and record.state == IdempotencyRecord.State.STARTED:
        # Started by a request that died (its process killed): this one takes over, once.
        stale = now - datetime.timedelta(seconds=STALE_SECONDS)
        taken = IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyRecord.State.STARTED, started_at__lt=stale
        ).update(started_at=now)
        if taken:
            return record, True
    return record, False


def idempotent(run):
    """Wraps a POST operation (``ninja.decorators.decorate_view``)."""

    @functools.wraps(run)
    def wrapper(request, *args, **kwargs):
        from api.v1 import caller_of

        key = request.headers.get("Idempotency-Key")
        caller = caller_of(request)
        if not key or caller is None or len(key) > 255 or not key.isprintable():
            return run(request, *args, **kwargs)  # the operation answers (422 for a bad key, 401 without one)
        fingerprint = request_fingerprint(request)
        record, runs = _record_start(api_key=caller.key, key=key, request=request, fingerprint=fingerprint)
        if not runs:
            return _answer_of(record, fingerprint)
        try:
            response = run(request, *args, **kwargs)
        except BaseException:
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            raise
        if response.status_code >= 500 or response.status_code in NOT_KEPT or getattr(response, "streaming", False):
            IdempotencyRecord.objects.filter(pk=record.pk).delete()
            return response
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=IdempotencyRecord.State.DONE,
            status_code=response.status_code,
            content_type=response.get("Content-Type", ""),
            headers={name: response[name] for name in KEPT_HEADERS if response.has_header(name)},
            body=response.content,
        )
        return response

    return wrapper


def _answer_of(record, fingerprint):
    if record.fingerprint != fingerprint:
        return problem_response(
            422,
            _("This Idempotency-Key was used for another request"),
            _("Send a new Idempotency-Key with a different request."),
            errors=[("Idempotency-Key", _("Already used with a different method, address or body."))],
            type_="idempotency-key-reused",
        )
    deadline = time.monotonic() + WAIT_SECONDS
    while record.state != IdempotencyRecord.State.DONE and time.monotonic() < deadline:
        time.sleep(0.05)
        record = IdempotencyRecord.objects.filter(pk=record.pk).first()
        if record is None:  # the first request failed and let the key go: this one may try
            response = problem_response(
                409, _("Try again"), _("The first request with this Idempotency-Key failed."), type_="conflict"
            )
            response["Retry-After"] = "1"
            return response
    if record.state != IdempotencyRecord.State.DONE:
        response = problem_response(
            409,
            _("A request with this Idempotency-Key is still running"),
            _("Send it again in a moment to get its answer."),
            type_="conflict",
        )
        response["Retry-After"] = "1"
        return response
    return _replay(record)


def idempotency_records_purge(*, now=None):
    """Forget answers older than IDEMPOTENCY_HOURS; returns how many."""
    cutoff = (now or timezone.now()) - datetime.timedelta(hours=settings.IDEMPOTENCY_HOURS)
    deleted, _rows = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
