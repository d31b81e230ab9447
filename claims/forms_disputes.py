"""The claim page's dispute and protect forms (SPEC §12). They validate and clean; they never write.

Typed text answers at its field (control characters, NUL, length), like the answer form; files are checked by
content and size (``poe_check``) exactly as the answer's and the wizard's are.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from associations.validators import validate_no_control_characters
from claims.uploads import POE_MAX_FILES, poe_check

TEXT_MAX_CHARS = 5000


class _MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class PoeFilesField(forms.Field):
    """Every file sent under the field's name, as a list; the form checks them by content (``poe_check``)."""

    widget = _MultipleFileInput

    def to_python(self, value):
        if not value:
            return []
        return list(value) if isinstance(value, (list, tuple)) else [value]


class _PoeWithTextForm(forms.Form):
    """A text and POE files; ``cleaned_data["checked"]`` is [(uploaded file, CheckedUpload)] for the service.
    Every error belongs to its field (the text's, or the files'), so the page shows it there."""

    files_required = False

    def clean(self):
        cleaned = super().clean()
        uploads = cleaned.get("files") or []
        errors = []
        if self.files_required and not uploads:
            errors.append(gettext("Add at least one proof of execution file."))
        if len(uploads) > POE_MAX_FILES:
            errors.append(
                ngettext(
                    "You can add at most %(max)s file at a time.",
                    "You can add at most %(max)s files at a time.",
                    POE_MAX_FILES,
                )
                % {"max": POE_MAX_FILES}
            )
        checked = []
        for upload in uploads[:POE_MAX_FILES]:
            try:
                checked.append((upload, poe_check(upload, already=len(checked))))
            except ValidationError as exc:
                errors += exc.messages
        if errors:
            self.add_error("files", errors)  # at the file input, where the partner chose them
        else:
            cleaned["checked"] = checked
        return cleaned


class DisputeForm(_PoeWithTextForm):
    justification = forms.CharField(
        max_length=TEXT_MAX_CHARS,
        validators=[validate_no_control_characters],
        error_messages={
            "required": _("Write your business justification: why the claim should be approved."),
            "max_length": _("Keep your justification under 5,000 characters."),
        },
    )
    files = PoeFilesField(required=False)


class ProtectForm(_PoeWithTextForm):
    files_required = True

    comment = forms.CharField(
        max_length=TEXT_MAX_CHARS,
        validators=[validate_no_control_characters],
        error_messages={
            "required": _("Write a comment: what the new proof of execution shows."),
            "max_length": _("Keep your comment under 5,000 characters."),
        },
    )
    files = PoeFilesField(required=False)
