"""Checks and headers that apply to every response, so that no page can forget them (SPEC §14)."""

from django.conf import settings
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.http.request import UnreadablePostError
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext, gettext_noop

from associations.validators import CONTROL_CHARACTERS
from associations.wording import words_list
from claims.uploads import POE_RULES

# How many offending places the page names: enough to find them, short for a request with a thousand fields.
PLACES_SHOWN = 3
# The longest query string a page reads: gunicorn's default request line limit (4094 bytes) refuses longer ones in
# production already; this gives the same answer under any server, with a page that says so. A 100,000-character
# parameter on an admin list with a country filter made a 26 MB page (every filter link repeats the query).
QUERY_STRING_MAX_CHARS = 4096
MB = 1024 * 1024


class RequestBodyLimitMiddleware:
    """Refuse a request whose body is longer than any form of the site needs (``REQUEST_MAX_BYTES``) with the 413
    page, before anything reads a byte of it (SPEC §14).

    Django reads a body only when something asks for it (``request.POST``, ``request.FILES``, ``request.body``),
    and only up to its declared Content-Length: a body without one (``Transfer-Encoding: chunked``) is never read
    at all, and would reach the view as an empty form; it gets the 411 page instead (browsers always send a
    length). Checked in ``__call__``, so before every ``process_view`` (the CSRF check and RequestInputMiddleware
    read the form there) whatever the order; listed before the session and every middleware that might read the
    body, after the ones that only add headers, so the page carries them too. It works the same under gunicorn and
    under Django's own server (the test server): both build the request the same way, and the check is in Django.

    The page is in the visitor's language (the language cookie, else Accept-Language: LocaleMiddleware has not run
    yet).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = _body_refusal(request)
        if refusal is not None:
            return refusal
        return self.get_response(request)


def _body_refusal(request):
    """The 413 or 411 page for a request with a body too long or of no declared length, else None."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    try:
        length = int(declared) if declared else None
    except ValueError:
        length = None  # Django reads such a body as empty
    if length is not None and length > settings.REQUEST_MAX_BYTES:
        status = 413
    elif length is None and request.META.get("HTTP_TRANSFER_ENCODING"):
        status = 411
    else:
        return None
    language = translation.get_language_from_request(request)
    if _is_api(request):
        with translation.override(language):
            if status == 413:
                detail = gettext("The request is larger than %(max)s MB.") % {"max": settings.REQUEST_MAX_BYTES // MB}
                return _problem(413, gettext("The request is too large"), detail)
            return _problem(411, gettext("The request needs a length"), gettext("Send a Content-Length header."))
    with translation.override(language):
        context = {
            "status": status,
            "max_mb": settings.REQUEST_MAX_BYTES // MB,
            # The upload rules (claims.uploads.POE_RULES), as the drop zones say them.
            "poe_max_files": POE_RULES.max_files,
            "poe_max_mb": POE_RULES.max_bytes // MB,
        }
        response = render(request, "request_too_large.html", context, status=status)
    response.headers["Content-Language"] = language
    return response


class RequestInputMiddleware:
    """Refuse requests with control characters (NUL and the like) in the address, the query string or the posted
    form, or a query string longer than any page reads, with a clear 400 page (JSON for the upload endpoint's
    XHR), never a 500.

    Refused, not stripped: stripping would silently search for, or store, something other than what was sent.
    Cookies are the exception: they are not typed, only a tampered browser sends such a cookie, and it is dropped
    (a session cookie with a NUL is as invalid as any unknown session key: the visitor is simply signed out).
    The posted form is checked in ``process_view``, once the URL is resolved, so that a view can leave a field to
    its form: a view function's ``control_characters_allowed`` attribute names the fields whose form answers at
    the field itself, keeping what was typed (``associations.validators.validate_no_control_characters``), or
    cleans them (a file name). Set as a plain attribute: the apps below ``cpor`` do not import it. Every other
    field, and every field added later, is checked here. Uploaded files' names are the upload code's.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        for name in [name for name, value in request.COOKIES.items() if _has_control(name) or _has_control(value)]:
            del request.COOKIES[name]
        # The address is checked here and answered in process_view: by then the session and the user are known,
        # and the page keeps the signed-in layout. (An address that matches no page is a 404 either way.)
        request.input_refusal = _address_refusal(request)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(request, "input_refusal", None):
            return request.input_refusal()
        if request.method != "POST":
            return None
        try:
            posted, files = request.POST, request.FILES
        except (MultiPartParserError, UnreadablePostError):
            # A broken body: the CSRF check and the view answer it as they always did.
            return None
        allowed = getattr(view_func, "control_characters_allowed", frozenset())
        places = _places(
            posted, gettext_noop("the form field “%(name)s”"), gettext_noop("a form field name"), allowed=allowed
        )
        places += [
            (gettext_noop("the form field name “%(name)s”"), _shown(name)) for name in files if _has_control(name)
        ]
        if places:
            return _refused(request, places)
        return None


def _address_refusal(request):
    """A function answering the refusal of this request's address, or None when the address is fine."""
    if len(request.META.get("QUERY_STRING", "")) > QUERY_STRING_MAX_CHARS:
        # Worded when answered (process_view): by then LocaleMiddleware has chosen the language.
        return lambda: _refused_page(
            request,
            gettext(
                "The address of this page is too long (more than %(max)s characters in its query). Go back and try "
                "again with a shorter search."
            )
            % {"max": f"{QUERY_STRING_MAX_CHARS:,}"},
        )
    places = []
    if _has_control(request.path_info):
        places.append((gettext_noop("the address"), None))
    places += _places(
        request.GET, gettext_noop("the address (parameter “%(name)s”)"), gettext_noop("a parameter name in the address")
    )
    if places:
        return lambda: _refused(request, places)
    return None


def _has_control(text):
    return CONTROL_CHARACTERS.search(text) is not None


def _shown(name):
    """A field name for the page: its control characters as visible U+ codes, and never very long."""
    return CONTROL_CHARACTERS.sub(lambda m: f"U+{ord(m.group()):04X}", name[:60])


def _places(query_dict, where, where_key, *, allowed=frozenset()):
    """The offending places, as (msgid, field name or None): worded in _refused, once the language is known."""
    places = []
    for name, values in query_dict.lists():
        if _has_control(name):
            places.append((where_key, None))
        elif name not in allowed and any(_has_control(value) for value in values):
            places.append((where, _shown(name)))
    return places


def _refused(request, places):
    places = [gettext(msgid) % {"name": name} if name is not None else gettext(msgid) for msgid, name in places]
    places = list(dict.fromkeys(places))
    where = words_list(places[:PLACES_SHOWN])
    if len(places) > PLACES_SHOWN:
        where = gettext("%(places)s and elsewhere") % {"places": where}
    message = gettext(
        "Your request contained characters we cannot accept: control characters, such as NUL, in %(where)s. "
        "Remove them and try again."
    ) % {"where": where}
    return _refused_page(request, message, control_characters=True)


def _is_api(request):
    """The partner API answers every error as problem details (RFC 9457), never with a page."""
    return request.path_info.startswith("/api/v1/") and not request.path_info.startswith("/api/v1/docs")


def _problem(status, title, detail):
    import json

    from django.http import HttpResponse

    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "errors": []}
    return HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type="application/problem+json")


def _refused_page(request, message, *, control_characters=False):
    if _is_api(request):
        return _problem(400, gettext("The request is not valid"), message)
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return JsonResponse({"error": message}, status=400)
    context = {"message": message, "control_characters": control_characters}
    return render(request, "input_refused.html", context, status=400)


class NoStoreMiddleware:
    """``Cache-Control: no-store`` (Django's never_cache headers) on every response that did not set its own.

    Every page of this app is private or changes with the claim's status: claim pages, lists, exports, POE
    downloads, the wizard, the customer's page, admin. Static files are served by WhiteNoise before this
    middleware and keep their long cache headers.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
