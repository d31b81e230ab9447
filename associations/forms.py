from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from associations.zones import AREAS, time_zone_choices


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.CharField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("That email and password do not match an account. Check both and try again."),
    }


class PasswordResetRequestForm(forms.Form):
    """The address to send a password reset link to, as the sign-in reads it (lower-cased)."""

    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean_email(self):
        return self.cleaned_data["email"].strip().lower()


def _time_zone_choices():
    """The zones a user may choose, grouped by area (in AREAS' order), each named by its city (never its IANA
    name), in the active language."""
    groups = {area: [] for area in AREAS}
    for key, label in time_zone_choices():
        groups[key.split("/", 1)[0] if "/" in key else "UTC"].append((key, label))
    return [
        (AREAS[area], sorted(options, key=lambda option: str(option[1]))) for area, options in groups.items() if options
    ]


class PreferencesForm(forms.Form):
    """A user's language and time zone (SPEC §15), saved in UserPreference."""

    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=_time_zone_choices,
        help_text=_("Every time is shown in this zone. Customers' deadlines are also given in the customer's."),
    )
