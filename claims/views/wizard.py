"""The wizard (SPEC §4) and its uploads: the POE files sent while it runs, and the pre-filled POE template."""

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST, require_safe

from associations.access import admin_role_required
from associations.models import Product
from claims.services import (
    PoeStorageError,
    pending_upload_create,
    pending_upload_delete,
)
from claims.uploads import POE_TYPES, poe_template_docx
from claims.wizard import ClaimWizard, claim_wizard_for, wizard_submission_key

claim_wizard = ClaimWizard.as_view()


@require_POST
@admin_role_required
def poe_upload(request):
    """The wizard's XHR upload: one file, checked and stored as a PendingUpload of the current wizard run."""
    wizard_key = wizard_submission_key(request)
    if wizard_key is None:
        message = gettext("Your claim session has expired. Start the customer association again.")
        return JsonResponse({"error": message}, status=409)
    uploaded = request.FILES.get("file")
    if uploaded is None:
        return JsonResponse({"error": gettext("Choose a file to upload.")}, status=400)
    try:
        upload = pending_upload_create(
            partner=request.partner,
            user=request.user,
            wizard_key=wizard_key,
            uploaded_file=uploaded,
            display_name=request.POST.get("name") or None,
        )
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    except PoeStorageError as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return JsonResponse(
        {
            "id": str(upload.pk),
            "name": upload.original_name,
            "size": upload.size,
            "type": POE_TYPES[upload.content_type],
            "delete_url": reverse("claims:poe_upload_delete", args=[upload.pk]),
        },
        status=201,
    )


# cpor.middleware.RequestInputMiddleware refuses control characters in posted fields with a page of its own,
# except the fields a view names here: "name" is the browser's file name, which poe_display_name reduces to its
# printable characters.
poe_upload.control_characters_allowed = frozenset({"name"})


@require_POST
@admin_role_required
def poe_upload_delete(request, upload_id):
    wizard_key = wizard_submission_key(request)
    if wizard_key is None or not pending_upload_delete(
        partner=request.partner, wizard_key=wizard_key, upload_id=upload_id
    ):
        raise Http404("No such upload in this claim.")
    return JsonResponse({"deleted": True})


@require_safe
@admin_role_required
def poe_template(request):
    """The POE template as a DOCX, pre-filled with what this wizard run knows about the claim."""
    summary = claim_wizard_for(request).summary()
    tenant = summary.get("tenant")
    location = summary.get("location")
    products = summary.get("products") or []
    content = poe_template_docx(
        partner_name=request.partner.name,
        mpn_id=location.mpn_id if location else "",
        customer_name=tenant.name if tenant else "",
        domain=summary.get("domain", ""),
        directory_id=summary.get("directory_id", ""),
        products=[product.name for product in products if isinstance(product, Product)],
    )
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    response["Content-Disposition"] = 'attachment; filename="proof-of-execution-template.docx"'
    return response
