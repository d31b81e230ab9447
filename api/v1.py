"""``/api/v1`` (SPEC §16): django-ninja, its OpenAPI 3 schema generated from the code (``/api/v1/openapi.json``),
API-key auth with a rate limit per key, every error as RFC 9457 problem details, idempotent POSTs.

Why django-ninja rather than Django REST framework with drf-spectacular: the request and response shapes are
pydantic models that are the schema (no serializer layer beside a schema layer that can drift apart), the
operations are plain functions like the rest of the code (STYLE 10: decorators, the object or a 404, a form, one
service call), and it adds two small packages where DRF adds a framework with its own auth, permissions,
throttling and views that would stand beside the site's.
"""

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from api.keys import api_key_authenticate
from api.problems import PROBLEM_TYPE, ApiProblem, problem_response
from api.ratelimit import api_rate_check

logger = logging.getLogger(__name__)

DESCRIPTION = """The partner API of CPOR claims: the same rules, services and history as the browser.

Authenticate with an API key (`Authorization: Bearer cpor_…`), made by an incentives admin under **API and
integrations**. A read-only key reads; a read-write key acts as the incentives admin who made it. Every POST takes
an `Idempotency-Key` header: the same key gets the same answer (for 24 hours), and a different request with it 422.
Errors are RFC 9457 problem details (`application/problem+json`). Each key may send `API_RATE_LIMIT_PER_MINUTE`
requests a minute (429 with `Retry-After` beyond). Lists are paged with an opaque `cursor`.
"""


class RateLimited(Exception):
    def __init__(self, wait):
        super().__init__(wait)
        self.wait = wait


def caller_of(request):
    """The request's ApiCaller (memoised on the request), or None."""
    if not hasattr(request, "_api_caller"):
        header = request.headers.get("Authorization", "")
        scheme, _sep, token = header.partition(" ")
        caller = api_key_authenticate(token.strip()) if scheme.lower() == "bearer" else None
        request._api_caller = caller
    return request._api_caller


class KeyAuth(HttpBearer):
    """An API key, then its rate limit."""

    def __call__(self, request):
        caller = caller_of(request)
        if caller is None:
            return None
        wait = api_rate_check(caller.key.pk)
        if wait is not None:
            raise RateLimited(wait)
        return caller

    def authenticate(self, request, token):  # pragma: no cover (``__call__`` does it)
        return caller_of(request)


class PartnerApi(NinjaAPI):
    """NinjaAPI whose schema says what errors are: problem details under ``application/problem+json``."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content") or {}
                    if int(status) >= 400 and "application/json" in content:
                        response["content"] = {"application/problem+json": content["application/json"]}
        return schema


api = PartnerApi(
    title="CPOR claims partner API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
    docs_url=None,
    openapi_url="/openapi.json",
    auth=KeyAuth(),
)


@api.exception_handler(AuthenticationError)
def _unauthorized(request, exc):
    response = problem_response(
        401, _("Not signed in"), _("Send a valid API key: Authorization: Bearer cpor_…"), type_="unauthorized"
    )
    response["WWW-Authenticate"] = 'Bearer realm="cpor"'  # i18n: English only (a header)
    return response


@api.exception_handler(RateLimited)
def _rate_limited(request, exc):
    response = problem_response(
        429,
        _("Too many requests"),
        _("This API key sent more requests this minute than it may. Try again in %(seconds)s seconds.")
        % {"seconds": exc.wait},
        type_="rate-limited",
    )
    response["Retry-After"] = str(exc.wait)
    return response


@api.exception_handler(ValidationError)
def _invalid(request, exc):
    errors = []
    for error in exc.errors:
        # ("body", "payload", "comments") -> "comments": the source and the operation's own parameter name go.
        location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "form", "file")]
        if len(location) > 1 and location[0] in ("payload", "query", "form"):
            location = location[1:]
        errors.append({"field": ".".join(location) or "request", "message": error.get("msg", "")})
    return problem_response(422, _("The request is not valid"), "", errors=errors, type_="invalid")


@api.exception_handler(ApiProblem)
def _problem(request, exc):
    response = problem_response(exc.status, exc.title, exc.detail, errors=exc.errors, type_=exc.type)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problem_response(404, _("Not found"), _("There is no such object of your organization."), type_="not-found")


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return problem_response(403, _("Not allowed"), str(exc) or "", type_="forbidden")


@api.exception_handler(HttpError)
def _http_error(request, exc):
    return problem_response(exc.status_code, str(exc), "", type_="error")


@api.exception_handler(Exception)
def _error(request, exc):
    logger.exception("API error", exc_info=exc)
    return problem_response(500, _("Something went wrong"), _("Try again in a moment."), type_="error")


# The operations (each module adds its own to ``api``).
from api.endpoints import catalog, claims, drafts, imports  # noqa: E402, F401

__all__ = ["PROBLEM_TYPE", "HttpResponse", "api"]
