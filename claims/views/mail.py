"""What the mail server sends us (README "Bounces"): its bounce reports, by webhook. No session, no CSRF: a machine's
post, authenticated by the shared secret ``EMAIL_BOUNCE_TOKEN``."""

import hmac

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse, RawPostDataException
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from claims.services import BounceRefused, email_bounce_receive


@csrf_exempt  # a machine's post, authenticated by its token
@require_POST
def mail_bounce(request):
    """Bounce reports from the mail server (README "Bounces"): the raw message as the body, the shared secret as
    ``Authorization: Bearer <EMAIL_BOUNCE_TOKEN>``, and optionally ``?recipient=`` the envelope recipient. Acts
    through ``email_bounce_receive``. 404 when no token is configured (off), 401 for a wrong token, 400 for a
    message we do not act on (not a report, unsigned or forged bounce address), 413 when too large; 200 with what
    was done ("acted", "recorded", "already", "ignored") otherwise. Never a 500 for what is sent."""
    token = settings.EMAIL_BOUNCE_TOKEN
    if not token:
        raise Http404("The bounce webhook is off.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return JsonResponse(
            {"error": "A valid bearer token is required."},  # i18n: English only (JSON for a mail server)
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        raw = request.body
    except RequestDataTooBig:
        return JsonResponse({"error": "Too large for a bounce report."}, status=413)  # i18n: English only (JSON)
    except RawPostDataException:  # a multipart form post: not a raw message
        message = "Send the message itself as the body (message/rfc822)."
        return JsonResponse({"error": message}, status=400)
    try:
        result = email_bounce_receive(raw=raw, recipient=request.GET.get("recipient", "")[:320])
    except BounceRefused as refused:
        return JsonResponse({"error": str(refused)}, status=400)
    return JsonResponse({"result": result.value})
