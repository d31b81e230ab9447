"""The partner UI's forms for API keys, webhook endpoints and bulk imports. They validate and clean; they never
write."""

from django import forms
from django.utils.translation import gettext_lazy as _

from api import ssrf
from api.models import ApiKey, WebhookEvent
from associations.validators import validate_single_line


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        validators=[validate_single_line],
        help_text=_("What the key is for, e.g. the name of your CRM."),
        error_messages={"required": _("Enter a name for the key.")},
    )
    access = forms.ChoiceField(
        label=_("Access"),
        choices=ApiKey.Access.choices,
        initial=ApiKey.Access.READ,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose what the key may do.")},
    )


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        label=_("Address"),
        max_length=500,
        assume_scheme="https",
        help_text=_("An HTTPS address of your system, e.g. https://crm.example.com/cpor-webhooks."),
        error_messages={"required": _("Enter the address."), "invalid": _("Enter a valid https:// address.")},
    )
    description = forms.CharField(
        label=_("Description"), max_length=200, required=False, validators=[validate_single_line]
    )
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one event.")},
    )

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            ssrf.target_check(url)
        except ssrf.AddressRefused as refused:
            raise forms.ValidationError(str(refused), code="refused") from None
        return url


class ImportForm(forms.Form):
    csv = forms.FileField(
        label=_("Claims (CSV)"),
        help_text=_("One row per claim, with the columns of the template."),
        error_messages={"required": _("Choose the CSV file.")},
    )
    poe = forms.FileField(
        label=_("Proof of execution files (ZIP)"),
        required=False,
        help_text=_("The files the CSV names in its poe_files column."),
    )
