from django.middleware.csrf import REASON_NO_CSRF_COOKIE
from django.shortcuts import render


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: a plain page in the site's layout, instead of Django's technical one (SPEC §14)."""
    return render(request, "csrf_failure.html", {"no_cookies": reason == REASON_NO_CSRF_COOKIE}, status=403)
