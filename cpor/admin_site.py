"""The review tool's admin site: django-otp's, which lets in only staff whose session a TOTP device verified
(SPEC §14), with a one-step sign-in form: email, password and the code, no device to pick."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice


class ReviewerAuthenticationForm(OTPAdminAuthenticationForm):
    username = forms.CharField(label=_("Email"), max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))
    otp_token = forms.CharField(
        label=_("Code from your authenticator app"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # django-otp renders the password back into the page for its second step; this form has no second step.
        self.fields["password"].widget.render_value = False

    def _chosen_device(self, user):
        # A reviewer has one authenticator (associations.totp enrols exactly one): use it, instead of django-otp's
        # second round trip asking which device the code is from.
        return super()._chosen_device(user) or TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


class ReviewAdminSite(OTPAdminSite):
    login_form = ReviewerAuthenticationForm
    login_template = "admin/login_otp.html"
