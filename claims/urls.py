from django.urls import path

from claims.views import claim_list, detail, disputes, drafts, usage, wizard

app_name = "claims"

urlpatterns = [
    path("customer-associations/", claim_list.claim_list, name="list"),
    path("customer-associations/new/", wizard.claim_wizard, name="create"),
    path("customer-associations/new/uploads/", wizard.poe_upload, name="poe_upload"),
    path(
        "customer-associations/new/uploads/<uuid:upload_id>/delete/", wizard.poe_upload_delete, name="poe_upload_delete"
    ),
    path("customer-associations/new/poe-template/", wizard.poe_template, name="poe_template"),
    path("customer-associations/<int:claim_id>/", detail.claim_detail, name="detail"),
    path(
        "customer-associations/<int:claim_id>/documents/<int:document_id>/",
        detail.poe_download,
        name="poe_download",
    ),
]

# A claim's page: the answer, Disassociate, usage data (SPEC §5, §12).
urlpatterns += [
    path("customer-associations/<int:claim_id>/respond/", detail.claim_respond_view, name="respond"),
    path("customer-associations/<int:claim_id>/disassociate/", detail.claim_disassociate_view, name="disassociate"),
    path("customer-associations/<int:claim_id>/usage/", usage.claim_usage_view, name="usage"),
    path("customer-associations/<int:claim_id>/usage.csv", usage.claim_usage_csv_view, name="usage_csv"),
]

# Disputes and protection (SPEC §12).
urlpatterns += [
    path("customer-associations/<int:claim_id>/dispute/", disputes.claim_dispute_view, name="dispute"),
    path("customer-associations/<int:claim_id>/protect/", disputes.claim_protect_view, name="protect"),
]

# Drafts and Copy into a new claim (SPEC §12).
urlpatterns += [
    path("customer-associations/<int:claim_id>/edit/", drafts.claim_draft_edit, name="draft_edit"),
    path("customer-associations/<int:claim_id>/delete/", drafts.claim_draft_delete_view, name="draft_delete"),
    path("customer-associations/<int:claim_id>/copy/", drafts.claim_copy_view, name="copy"),
]
