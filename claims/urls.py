from django.urls import path

from claims import views

app_name = "claims"

urlpatterns = [
    path("customer-associations/", views.claim_list, name="list"),
    path("customer-associations/<int:claim_id>/", views.claim_detail, name="detail"),
]
