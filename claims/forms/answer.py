"""The claim page's forms (SPEC §5, §12): the partner's answer to an information request (with the edits allowed
while ``action_required``) and disassociate. They validate and clean; they never write."""

import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from associations.models import PartnerLocation
from associations.validators import validate_no_control_characters, validate_single_line
from claims.forms.wizard import ContactsForm, LocationChoiceField
from claims.policy import Edit, needs_technical_contact
from claims.services.review import ANSWER_CONTACT_FIELDS as CONTACT_FIELDS
from claims.services.review import NOTICE_ADDRESS_UNCHANGED, item_label
from claims.uploads import POE_RULES, poe_check

RESPONSE_MAX_CHARS = 5000
# The answer's fields of each edit the rule book may allow (claims.policy.Edit).
ANSWER_FIELDS = {
    Edit.COMMENT: ("comment",),
    Edit.POE: ("files",),
    Edit.LOCATION: ("location",),
    Edit.REMOVE_ITEMS: ("remove_items",),
    Edit.CONTACTS: CONTACT_FIELDS,
}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class UploadedFilesField(forms.Field):
    """Every file sent under the field's name, as a list; the form checks them by content (``poe_check``).

    Its limits are the upload rules (``rules``: ``claims.uploads.POE_RULES``), which the drop zone
    (templates/claims/_poe_dropzone.html) hands to the uploader in the browser; ``files_check`` checks them again,
    by content.
    """

    widget = MultipleFileInput
    rules = POE_RULES

    @property
    def max_files(self):
        return self.rules.max_files

    @property
    def max_bytes(self):
        return self.rules.max_bytes

    @property
    def accept(self):
        return self.rules.accept

    def to_python(self, value):
        if not value:
            return []
        return list(value) if isinstance(value, (list, tuple)) else [value]


def files_check(uploads, *, too_many=None):
    """(errors, [(uploaded file, CheckedUpload)], refused names) for the files of a claim-page form: each checked by
    content and size (``poe_check``), at most the rules' ``max_files`` (``too_many``: the form's own message for
    more, with %(max)s). The names of the files refused are what the uploader takes off its list."""
    max_files = POE_RULES.max_files
    errors = []
    if len(uploads) > max_files:
        too_many = too_many or ngettext(
            "You can add at most %(max)s file at a time.", "You can add at most %(max)s files at a time.", max_files
        )
        errors.append(too_many % {"max": max_files})
    checked, refused = [], []
    for upload in uploads[:max_files]:
        try:
            checked.append((upload, poe_check(upload, already=len(checked))))
        except ValidationError as exc:
            errors += exc.messages
            refused.append(upload.name)
    return errors, checked, refused


class RefusedFilesMixin:
    """The names of the posted files the form refused (``files_check``), for the uploader to take off its list."""

    refused_files = ()

    def refused_files_json(self):
        return json.dumps(list(self.refused_files))


class ClaimRespondForm(RefusedFilesMixin, ContactsForm):
    """The partner's answer (SPEC §12): a comment, more POE files, and the edits allowed while the claim waits for
    it: another of the partner's MPN IDs, fewer products (never none), the contacts (validated as in the wizard's
    contacts step, the contact rule included). Something must be said, added or changed.

    A field that is not posted at all keeps the claim's value (a plain comment-only post changes nothing else).
    ``cleaned_data``: ``checked`` [(uploaded file, CheckedUpload)], ``location`` (a PartnerLocation),
    ``contacts`` {column: value}, ``remove_items`` [ClaimItem], ``changed`` (whether any of these differ).
    """

    location = LocationChoiceField(
        label=_("MPN ID"),
        queryset=PartnerLocation.objects.none(),
        to_field_name="mpn_id",
        empty_label=None,
        error_messages={
            "required": _("Select the MPN ID of your location to associate with the customer."),
            "invalid_choice": _("This MPN ID is not one of your organization's active locations."),
        },
    )
    remove_items = forms.MultipleChoiceField(
        label=_("Remove products"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": _("This product is not part of this claim.")},
    )
    comment = forms.CharField(
        label=_("Your answer"),
        required=False,
        max_length=RESPONSE_MAX_CHARS,
        validators=[validate_no_control_characters],
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": RESPONSE_MAX_CHARS}),
        error_messages={"max_length": _("Keep your comment under 5,000 characters.")},
    )
    files = UploadedFilesField(label=_("More proof of execution (optional)"), required=False)

    # ContactsForm sets each field's "required" message from here.
    REQUIRED = {
        **ContactsForm.REQUIRED,
        "location": _("Select the MPN ID of your location to associate with the customer."),
        "remove_items": "",
        "comment": "",
        "files": "",
    }

    def __init__(self, data=None, files=None, *, claim, answer, items=None, **kwargs):
        """``answer``: the rule book's Answer for this claim and user (``claims.policy.ClaimRules.answer``), which
        says the edits this answer may make."""
        self.claim = claim
        self.answer = answer
        self.items = list(items if items is not None else claim.items.select_related("product", "subscription"))
        tenant = claim.tenant
        if tenant is not None:
            tenant.domain_names = list(tenant.domains.values_list("name", flat=True))
        current = {name: getattr(claim, name) for name in CONTACT_FIELDS}
        current["location"] = claim.location.mpn_id
        if data is not None:
            # What is not posted at all stays as it is; a field posted empty is an error as in the wizard.
            data = data.copy()
            for name, value in current.items():
                if name not in data:
                    data[name] = value
        super().__init__(
            data,
            files,
            needs_technical_contact=needs_technical_contact(item.product for item in self.items),
            tenant=tenant,
            domain=claim.domain,
            initial=current,
            auto_id="respond-%s",
            **kwargs,
        )
        # Typed text answers at its field (the view lets these fields through cpor.middleware's check); names and
        # titles already refuse every control character (validate_single_line).
        for name in CONTACT_FIELDS:
            field = self.fields.get(name)
            if (
                field is not None
                and not isinstance(field, forms.EmailField)
                and validate_single_line not in field.validators
            ):
                field.validators.append(validate_no_control_characters)
        # The partner's active locations, and the claim's own even if it was deactivated since.
        self.fields["location"].queryset = PartnerLocation.objects.filter(partner_id=claim.partner_id).filter(
            is_active=True
        ) | PartnerLocation.objects.filter(pk=claim.location_id)
        if len(self.items) > 1:
            self.fields["remove_items"].choices = [(str(item.pk), item_label(item)) for item in self.items]
            self.fields["remove_items"].help_text = gettext("Products cannot be added; at least one must remain.")
        else:
            del self.fields["remove_items"]
        # The fields of the edits the rule book does not allow this answer. The system's request after an
        # undeliverable notice asks for a corrected customer contact address: the answer is the contacts and a
        # comment (claims.services.notices), then the notice is sent again.
        self.notice_correction = answer.notice_correction
        for edit, names in ANSWER_FIELDS.items():
            if not answer.may(edit):
                for name in names:
                    self.fields.pop(name, None)
        if self.notice_correction:
            self.fields["customer_contact_email"].help_text = gettext(
                "The customer's notice could not be delivered to %(address)s. Enter the address at which the "
                "customer contact receives email: the notice is sent to it again."
            ) % {"address": claim.customer_contact_email}

    def edit_field_names(self):
        """Whether an edit has an error: the edits' part of the form opens on the page."""
        return [name for name in ("location", "remove_items", *CONTACT_FIELDS) if name in self.errors]

    def clean_remove_items(self):
        chosen = {int(pk) for pk in self.cleaned_data.get("remove_items") or []}
        removed = [item for item in self.items if item.pk in chosen]
        if removed and len(removed) == len(self.items):
            raise ValidationError(gettext("Keep at least one product: a claim cannot have none."), code="last_product")
        return removed

    def clean(self):
        cleaned = super().clean()
        if self.notice_correction:
            return self._clean_notice_correction(cleaned)
        contacts = {name: cleaned[name] for name in CONTACT_FIELDS if name in self.fields and name in cleaned}
        location = cleaned.get("location")
        remove_items = cleaned.get("remove_items") or []
        cleaned["contacts"] = contacts
        cleaned["remove_items"] = remove_items
        changed = bool(remove_items) or (location is not None and location.pk != self.claim.location_id)
        changed = changed or any(value != getattr(self.claim, name) for name, value in contacts.items())
        cleaned["changed"] = changed
        comment, uploads = cleaned.get("comment", ""), cleaned.get("files") or []
        if not self.errors and not comment and not uploads and not changed:
            # At the comment field: that is where the partner starts an answer (and it is described by it).
            self.add_error(
                "comment",
                ValidationError(
                    gettext("Your answer is empty: write a comment, add a file or change the claim."), code="empty"
                ),
            )
        too_many = ngettext(
            "You can add at most %(max)s file to an answer.",
            "You can add at most %(max)s files to an answer.",
            POE_RULES.max_files,
        )
        errors, cleaned["checked"], self.refused_files = files_check(uploads, too_many=too_many)
        if errors:
            for error in errors:
                self.add_error("files", error)
        return cleaned

    def _clean_notice_correction(self, cleaned):
        """The answer to an undeliverable notice: the contacts (the customer contact's address must change) and an
        optional comment; no MPN ID, products or files."""
        contacts = {name: cleaned[name] for name in CONTACT_FIELDS if name in self.fields and name in cleaned}
        address = contacts.get("customer_contact_email")
        if address is not None and address.strip().lower() == self.claim.customer_contact_email.strip().lower():
            self.add_error("customer_contact_email", ValidationError(NOTICE_ADDRESS_UNCHANGED, code="unchanged"))
        cleaned.update(contacts=contacts, location=None, remove_items=[], checked=[], changed=True)
        return cleaned


class DisassociateForm(forms.Form):
    reason = forms.CharField(
        max_length=1000,
        validators=[validate_no_control_characters],
        error_messages={
            "required": _("Give a reason for ending the association."),
            "max_length": _("Keep the reason under 1,000 characters."),
        },
    )
