from django.urls import path

from api import views

app_name = "api"

urlpatterns = [
    path("", views.integrations, name="integrations"),
    path("keys/<int:key_id>/revoke/", views.api_key_revoke_view, name="key_revoke"),
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<int:endpoint_id>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<int:endpoint_id>/enable/", views.webhook_enable_view, name="webhook_enable"),
    path(
        "webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver/",
        views.webhook_redeliver_view,
        name="webhook_redeliver",
    ),
    path("imports/", views.imports, name="imports"),
    path("imports/template.csv", views.import_template, name="import_template"),
    path("imports/<int:import_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:import_id>/progress/", views.import_progress, name="import_progress"),
    path("imports/<int:import_id>/result.csv", views.import_result, name="import_result"),
]
