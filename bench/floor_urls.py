"""The product's URLs (``cpor.urls``) plus the signed-in floor, for the benchmark only (``bench.settings``).

The floor (SPEC §11) is what every partner page costs before it does anything of its own: a signed-in partner
user's request through the whole middleware stack (session, user), the same access check as the partner pages
(``partner_required``: login, then the membership with its partner), and ``base.html`` rendered with its context
processors and an empty content block. bench/pages.py compares every page with it.
"""

from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.http import require_safe

from associations.access import partner_required

FLOOR_PATH = "/bench/floor"


@require_safe
@partner_required
def floor(request):
    return render(request, "bench/floor.html")


urlpatterns = [
    path(FLOOR_PATH.lstrip("/"), floor, name="bench_floor"),
    path("", include("cpor.urls")),
]
