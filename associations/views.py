from django.contrib.auth import views as auth_views
from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.shortcuts import redirect, resolve_url
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from associations.access import get_membership
from associations.forms import EmailAuthenticationForm


@never_cache
@require_safe
def healthz(request):
    """200 after one database round trip; 503 when the database does not answer."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    if get_membership(request.user) is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("claims:list")


class LoginView(auth_views.LoginView):
    form_class = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        # Reviewers have no partner: Customer associations would be a 404 for them, the admin is their page.
        if get_membership(self.request.user) is None and self.request.user.is_staff:
            return resolve_url("admin:index")
        return super().get_default_redirect_url()
