from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog

from api import views as api_views
from api.v1 import api as partner_api
from associations import language as association_language
from associations import views as association_views
from claims.views import customer as customer_views
from claims.views import mail as mail_views
from cpor import views as cpor_views
from cpor.admin_inputs import admin_inputs_bound
from cpor.admin_site import ReviewAdminSite

# Reviewers sign in to the admin with their password and a TOTP code (SPEC §14): django-otp's admin site lets in
# only a session verified by one of the user's devices, and its login form asks for the code. (Swapping the class
# of the default site, as django-otp documents, keeps every app's admin.register and the "admin:" URL names.)
admin.site.__class__ = ReviewAdminSite
admin.site.site_header = _("CPOR claims review")
admin.site.site_title = _("CPOR claims review")
admin.site.index_title = _("Review")
admin_inputs_bound()

urlpatterns = [
    path("", association_views.home, name="home"),
    path("healthz", association_views.healthz, name="healthz"),
    path("login/", association_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", association_language.language_set, name="set_language"),
    path("settings/", association_views.preferences, name="preferences"),
    path("password-reset/", cpor_views.password_reset, name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("admin/", admin.site.urls),
    # The strings of static/js in the request's language (SPEC §15): a same-origin script, so the CSP allows it.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("incentives/", include("claims.urls")),
    # The partner API (SPEC §16): the operations and their OpenAPI schema, its docs page, the partner's UI for keys,
    # webhooks and bulk imports.
    path("api/v1/docs", api_views.api_docs, name="api_docs"),
    path("api/v1/", partner_api.urls),
    path("incentives/integrations/", include("api.urls")),
    path("customer/opt-out/<str:token>/", customer_views.customer_opt_out, name="customer_opt_out"),
    # The mail server's bounce reports (claims.services.notices; README "Bounces").
    path("mail/bounces/", mail_views.mail_bounce, name="mail_bounce"),
]
