"""The user's language (SPEC §15): the switch in the top bar saves it per user, signing in brings it back.

Django's LocaleMiddleware reads the language cookie, then Accept-Language. The switch sets the cookie and saves the
choice in UserPreference; signing in (in any browser) sets the cookie from the saved choice, so the choice follows
the user across sign-outs and browsers, and a visitor who never chose gets their browser's Accept-Language.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from associations.models import UserPreference

LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}
# The attribute of a request that signed a user in: the language to put in the cookie of its response.
SIGNED_IN_LANGUAGE = "_cpor_signed_in_language"


def user_language(user):
    """The user's saved language, or None when they never chose one."""
    if user is None or not user.is_authenticated:
        return None
    preference = UserPreference.objects.filter(user=user).only("language").first()
    return preference.language if preference is not None and preference.language in LANGUAGE_CODES else None


def email_language(email):
    """The language of an email to an address: the saved choice of the user with that address (a partner's
    contact who also signs in), else English, the language partners' contacts read in Partner Center by default."""
    User = get_user_model()
    user = User.objects.filter(username=(email or "").strip().lower()).first()
    return user_language(user) or settings.LANGUAGE_CODE


def email_languages(emails):
    """``email_language`` of many addresses in one query: {address as given: language}."""
    usernames = {email: (email or "").strip().lower() for email in emails}
    saved = dict(
        UserPreference.objects.filter(user__username__in=set(usernames.values())).values_list(
            "user__username", "language"
        )
    )
    return {
        email: saved[name] if saved.get(name) in LANGUAGE_CODES else settings.LANGUAGE_CODE
        for email, name in usernames.items()
    }


@require_POST
def language_set(request):
    """Django's set_language (the cookie, the redirect to a safe ``next``), and for a signed-in user the choice
    saved, so that it comes back at their next sign-in in any browser."""
    response = set_language(request)
    language = request.POST.get("language")
    if language in LANGUAGE_CODES and request.user.is_authenticated:
        UserPreference.objects.update_or_create(user=request.user, defaults={"language": language})
    return response


@receiver(user_logged_in, dispatch_uid="associations.language.signed_in")
def signed_in(sender, request, user, **kwargs):
    language = user_language(user)
    if request is None or language is None:
        return
    translation.activate(language)
    request.LANGUAGE_CODE = language
    setattr(request, SIGNED_IN_LANGUAGE, language)


class SignedInLanguageMiddleware:
    """Puts the language saved by a user who just signed in into the language cookie of the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        language = getattr(request, SIGNED_IN_LANGUAGE, None)
        if language is not None:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response
