"""The outbox's emails about an account rather than a claim (registered in ``claims.emails.ACCOUNT_EMAIL_BUILDERS``
by ``ClaimsConfig.ready``): a password reset's link, in its user's saved language, else English."""

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from associations.language import user_language
from claims.emails import _in_language, _message


def _user_language(user):
    return user_language(user) or settings.LANGUAGE_CODE


@_in_language(_user_language)
def password_reset_email(user):
    """To the account's address: a link to choose a new password, made now by Django's token generator (it works
    for PASSWORD_RESET_TIMEOUT from now, and no more once the password changed or the user signed in). Built on
    SITE_URL, never on a request's Host header, which whoever asks for a reset controls."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    address = user.email or user.username
    return _message(
        "password_reset",
        {
            "email": address,
            "reset_url": settings.SITE_URL + reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token}),
        },
        to=[address],
    )


def password_reset_notification_email(notification):
    """The outbox row's message; None for an address without an account, or an account that may no longer reset
    (Django's rule)."""
    user = notification.user
    if user is None or not user.is_active or not user.has_usable_password():
        return None
    return password_reset_email(user)
