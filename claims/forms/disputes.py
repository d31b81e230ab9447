"""The claim page's dispute and protect forms (SPEC §12). They validate and clean; they never write.

Typed text answers at its field (control characters, NUL, length), like the answer form; the files come from the
shared drag-and-drop uploader (templates/claims/_poe_dropzone.html, SPEC §13) as the answer's do, through the same
field, and are checked by content and size (``files_check``) exactly as the answer's and the wizard's are.
"""

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from associations.validators import validate_no_control_characters
from claims.forms.answer import RefusedFilesMixin, UploadedFilesField, files_check

TEXT_MAX_CHARS = 5000


class _PoeWithTextForm(RefusedFilesMixin, forms.Form):
    """A text and POE files; ``cleaned_data["checked"]`` is [(uploaded file, CheckedUpload)] for the service.
    Every error belongs to its field (the text's, or the files'), so the page shows it there."""

    files_required = False
    auto_id_prefix = ""

    def __init__(self, *args, **kwargs):
        # The fields' ids name the form ("dispute-files"): the drop zone's input, its help and its errors.
        kwargs.setdefault("auto_id", f"{self.auto_id_prefix}-%s")
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        uploads = cleaned.get("files") or []
        errors, checked, self.refused_files = files_check(uploads)
        if self.files_required and not uploads:
            errors.insert(0, gettext("Add at least one proof of execution file."))
        if errors:
            self.add_error("files", errors)  # at the drop zone, where the partner chose them
        else:
            cleaned["checked"] = checked
        return cleaned


class DisputeForm(_PoeWithTextForm):
    auto_id_prefix = "dispute"

    justification = forms.CharField(
        max_length=TEXT_MAX_CHARS,
        validators=[validate_no_control_characters],
        error_messages={
            "required": _("Write your business justification: why the claim should be approved."),
            "max_length": _("Keep your justification under 5,000 characters."),
        },
    )
    files = UploadedFilesField(label=_("More proof of execution (optional)"), required=False)


class ProtectForm(_PoeWithTextForm):
    auto_id_prefix = "protect"
    files_required = True

    comment = forms.CharField(
        max_length=TEXT_MAX_CHARS,
        validators=[validate_no_control_characters],
        error_messages={
            "required": _("Write a comment: what the new proof of execution shows."),
            "max_length": _("Keep your comment under 5,000 characters."),
        },
    )
    files = UploadedFilesField(label=_("Proof of execution (POE)"), required=False)
