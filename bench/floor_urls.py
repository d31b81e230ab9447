"""The product's URLs (``cpor.urls``) plus the signed-in floor, for the benchmark only (``bench.settings``).

The floor (SPEC §11) is what every partner page costs before it does anything of its own: a signed-in partner
user's request through the whole middleware stack (session, user), the same access check as the partner pages
(``partner_required``: login, then the membership with its partner), and ``base.html`` rendered with its context
processors and an empty content block. bench/pages.py compares every page with it.

The reviewer's floor, ``/bench/admin-floor``, is the same for the review tool (SPEC §8: Django admin): what every
admin page costs before it does anything of its own. A reviewer's request through the same middleware, behind
the admin site's own sign-in (``admin_view``: staff, a session verified by a TOTP device) and the queue's
permission (``claims.view_claim``), rendering ``admin/base_site.html`` with the admin's context
(``AdminSite.each_context``: the sidebar's app list with its permission checks, the site's titles) and an empty
content block. bench/pages.py compares the reviewer's queue and review page with it.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.http import require_safe

from associations.access import partner_required

FLOOR_PATH = "/bench/floor"
ADMIN_FLOOR_PATH = "/bench/admin-floor"


@require_safe
@partner_required
def floor(request):
    return render(request, "bench/floor.html")


@require_safe
def admin_floor(request):
    # The queue's own check (ModelAdmin.has_view_permission) after admin_view's sign-in: a reviewer's permission.
    if not request.user.has_perm("claims.view_claim"):
        raise PermissionDenied
    return render(request, "bench/admin_floor.html", {**admin.site.each_context(request), "title": ""})


urlpatterns = [
    path(FLOOR_PATH.lstrip("/"), floor, name="bench_floor"),
    path(ADMIN_FLOOR_PATH.lstrip("/"), admin.site.admin_view(admin_floor), name="bench_admin_floor"),
    path("", include("cpor.urls")),
]
