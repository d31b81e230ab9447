import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.http import HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from associations.access import get_membership
from associations.forms import EmailAuthenticationForm, PreferencesForm
from associations.models import Partner, UserPreference
from associations.timezones import time_zone_remember


@never_cache
@require_safe
def healthz(request):
    """200 after one indexed query and a template (SPEC §11's yardstick for pages); 503 when the database does
    not answer.

    The query reads the first partner by its primary-key index, as a page reads its object; no row is fine. The
    template is rendered without the request: context processors would read the session, the user and the
    membership, three more queries.
    """
    try:
        Partner.objects.order_by("pk").first()
    except DatabaseError:
        return HttpResponse(render_to_string("healthz.html", {"state": "database unavailable"}), status=503)
    return HttpResponse(render_to_string("healthz.html", {"state": "ok"}))


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    if get_membership(request.user) is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("claims:list")


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        # Reviewers have no partner: Customer associations would be a 404 for them, the admin is their page.
        if get_membership(self.request.user) is None and self.request.user.is_staff:
            return resolve_url("admin:index")
        return super().get_default_redirect_url()


def signin_locked_out(request, original_response=None, credentials=None):
    """axes' lock-out response (``AXES_LOCKOUT_CALLABLE``): 429 with a page that says what happened and what to
    do, on the partner sign-in page and the admin's alike: the account locked on this client (axes), or the client
    locked for every account (``associations.auth.ClientThrottleBackend``), until the time it names."""
    until = getattr(request, "signin_client_locked_until", None)
    if until is None:
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    else:
        minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
    context = {"minutes": minutes, "client": until is not None}
    return render(request, "registration/locked_out.html", context, status=429)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def preferences(request):
    """The user's settings (SPEC §15): language and time zone, saved per user, into their cookies at once."""
    preference = UserPreference.objects.filter(user=request.user).first()
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            language, key = form.cleaned_data["language"], form.cleaned_data["time_zone"]
            UserPreference.objects.update_or_create(
                user=request.user, defaults={"language": language, "time_zone": key}
            )
            translation.activate(language)
            time_zone_remember(request, key)
            messages.success(request, _("Your settings were saved."))
            response = redirect("preferences")
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
            return response
    else:
        form = PreferencesForm(
            initial={
                "language": translation.get_language(),
                "time_zone": (preference.time_zone if preference else "") or timezone.get_current_timezone_name(),
            }
        )
    return render(request, "registration/preferences.html", {"form": form})
