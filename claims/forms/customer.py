"""The customer's choices on their page (SPEC §7): which action, on which of the claim's items, confirmed or not, and
a reason for ending an association. Items are named by their place in the page's list (1, 2, ...), never by a
database id."""

from django import forms
from django.utils.translation import gettext_lazy as _

from associations.validators import validate_no_control_characters

APPROVE = "approve"
OPT_OUT = "opt_out"
DECLINE = "decline"


class CustomerChoiceForm(forms.Form):
    action = forms.ChoiceField(
        choices=[(APPROVE, _("Approve now")), (OPT_OUT, _("Opt out")), (DECLINE, _("End the association"))],
        error_messages={
            "required": _("Choose what to do."),
            "invalid_choice": _("Choose what to do."),
        },
    )
    item = forms.MultipleChoiceField(
        required=False,
        error_messages={"invalid_choice": _("Choose products from the list.")},
    )
    confirm = forms.BooleanField(required=False)
    reason = forms.CharField(
        label=_("Reason (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        validators=[validate_no_control_characters],
    )

    def __init__(self, *args, items, **kwargs):
        super().__init__(*args, **kwargs)
        self.items = list(items)
        self.fields["item"].choices = [(str(n), str(n)) for n in range(1, len(self.items) + 1)]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") in (OPT_OUT, DECLINE) and not cleaned.get("item") and "item" not in self.errors:
            self.add_error("item", _("Choose at least one product."))
        return cleaned

    @property
    def chosen(self):
        """The chosen ClaimItems, in the page's order."""
        places = {int(n) for n in self.cleaned_data.get("item") or ()}
        return [item for n, item in enumerate(self.items, start=1) if n in places]


def item_places(items, chosen):
    """The places (1, 2, ...) of ``chosen`` among ``items``, as the form posts them."""
    ids = {item.pk for item in chosen}
    return [n for n, item in enumerate(items, start=1) if item.pk in ids]
