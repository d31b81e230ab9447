from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from associations import views as association_views
from claims import views as claims_views
from cpor.admin_inputs import admin_inputs_bound

admin.site.site_header = "CPOR claims review"
admin.site.site_title = "CPOR claims review"
admin.site.index_title = "Review"
admin_inputs_bound()

urlpatterns = [
    path("", association_views.home, name="home"),
    path("healthz", association_views.healthz, name="healthz"),
    path("login/", association_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("incentives/", include("claims.urls")),
    path("customer/opt-out/<str:token>/", claims_views.customer_opt_out, name="customer_opt_out"),
]
