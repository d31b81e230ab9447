from django.urls import path

from claims import views, views_drafts, views_lifecycle

app_name = "claims"

urlpatterns = [
    path("customer-associations/", views.claim_list, name="list"),
    path("customer-associations/new/", views.claim_wizard, name="create"),
    path("customer-associations/new/uploads/", views.poe_upload, name="poe_upload"),
    path(
        "customer-associations/new/uploads/<uuid:upload_id>/delete/", views.poe_upload_delete, name="poe_upload_delete"
    ),
    path("customer-associations/new/poe-template/", views.poe_template, name="poe_template"),
    path("customer-associations/<int:claim_id>/", views.claim_detail, name="detail"),
    path(
        "customer-associations/<int:claim_id>/documents/<int:document_id>/",
        views.poe_download,
        name="poe_download",
    ),
]

# Lifecycle (issue #4).
urlpatterns += [
    path("customer-associations/<int:claim_id>/respond/", views.claim_respond_view, name="respond"),
    path("customer-associations/<int:claim_id>/disassociate/", views.claim_disassociate_view, name="disassociate"),
    path("customer-associations/<int:claim_id>/usage/", views.claim_usage_view, name="usage"),
    path("customer-associations/<int:claim_id>/usage.csv", views.claim_usage_csv_view, name="usage_csv"),
]

# Disputes and protection (issue #10, SPEC §12).
urlpatterns += [
    path("customer-associations/<int:claim_id>/dispute/", views_lifecycle.claim_dispute_view, name="dispute"),
    path("customer-associations/<int:claim_id>/protect/", views_lifecycle.claim_protect_view, name="protect"),
]

# Drafts and Copy into a new claim (SPEC §12).
urlpatterns += [
    path("customer-associations/<int:claim_id>/edit/", views_drafts.claim_draft_edit, name="draft_edit"),
    path("customer-associations/<int:claim_id>/delete/", views_drafts.claim_draft_delete_view, name="draft_delete"),
    path("customer-associations/<int:claim_id>/copy/", views_drafts.claim_copy_view, name="copy"),
]
