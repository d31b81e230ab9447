"""The review tool's admin site: django-otp's, which lets in only staff whose session a TOTP device verified
(SPEC §14), with a one-step sign-in form: email, password and the code, no device to pick."""

from django import forms
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice


class CodeInput(forms.TextInput):
    """A one-time code's field, never filled back in: a code submitted is spent or wrong."""

    def format_value(self, value):
        return None


class ReviewerAuthenticationForm(OTPAdminAuthenticationForm):
    username = forms.CharField(label=_("Email"), max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))
    otp_token = forms.CharField(
        label=_("Code from your authenticator app"),
        required=False,
        widget=CodeInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    # django-otp's messages in our words (it has no zh-Hant catalog); clean() says one of its own for every failure.
    otp_error_messages = {
        **OTPAdminAuthenticationForm.otp_error_messages,
        "token_required": _("Enter the code from your authenticator app."),
        "invalid_token": _("That code is not right. Enter the code your authenticator app shows now."),
        "verification_not_allowed": _("Codes are not accepted for a while after wrong ones. Try again in a minute."),
        "device_required": _("This account has no authenticator app set up for the review tool."),
        "n_failed_attempts": ngettext_lazy(
            "Codes are not accepted for a while after %(failure_count)d wrong one. Try again in a minute.",
            "Codes are not accepted for a while after %(failure_count)d wrong ones. Try again in a minute.",
            "failure_count",
        ),
    }
    error_messages = {
        **OTPAdminAuthenticationForm.error_messages,
        "invalid_login": _(
            "That email, password and code do not sign you in. Check all three and try again; after a wrong code, "
            "wait a minute before the next."
        ),
    }

    def clean(self):
        """One message for every failure, the password's or the code's (OWASP ASVS L2): a wrong password, a wrong
        or missing code, a device that refuses codes for a while after wrong ones, an account that is no reviewer.
        A message that named the code would tell whoever typed the password that it was right."""
        try:
            return super().clean()
        except forms.ValidationError:
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login") from None

    def _update_form(self, user):
        # django-otp fills its device list and renders the password back into the page once the password was right
        # (for its second step): both would say the password was right. This form has no second step.
        pass

    def _chosen_device(self, user):
        # A reviewer has one authenticator (associations.totp enrols exactly one): use it, instead of django-otp's
        # second round trip asking which device the code is from.
        return super()._chosen_device(user) or TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


class ReviewAdminSite(OTPAdminSite):
    login_form = ReviewerAuthenticationForm
    login_template = "admin/login_otp.html"

    def index(self, request, extra_context=None):
        """The admin opens on the review queue (SPEC §8) for whoever may see claims; the apps stay in the sidebar
        and under each app's page."""
        if request.user.has_perm("claims.view_claim"):
            return redirect("admin:claims_claim_changelist")
        return super().index(request, extra_context)
