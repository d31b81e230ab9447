"""A test-only URLconf: the site's URLs plus views that fail on purpose, for the branded 400/403/500 pages. Never
in cpor.urls."""

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.urls import path

from cpor.urls import urlpatterns as site_urlpatterns


def _boom(request):
    raise RuntimeError("a test-only failure")


def _forbidden(request):
    raise PermissionDenied


def _bad(request):
    raise SuspiciousOperation("a test-only bad request")


urlpatterns = [
    *site_urlpatterns,
    path("test-errors/500", _boom),
    path("test-errors/403", _forbidden),
    path("test-errors/400", _bad),
]
