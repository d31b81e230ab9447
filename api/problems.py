"""RFC 9457 problem details: every error of the API, in the request's language."""

import json

from django.conf import settings
from django.http import HttpResponse

PROBLEM_TYPE = "application/problem+json"


class ApiProblem(Exception):
    """An error the API answers: its status, a short title, what happened (``detail``) and the fields at fault
    (``errors``: [(field, message)] or dicts)."""

    def __init__(self, status, title, detail="", *, errors=(), type_="error", headers=None):
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = str(title)
        self.detail = str(detail)
        self.errors = [e if isinstance(e, dict) else {"field": str(e[0]), "message": str(e[1])} for e in errors]
        self.type = type_
        self.headers = headers or {}


def problem_body(status, title, detail="", *, errors=(), type_="error"):
    return {
        "type": f"{settings.SITE_URL}/api/v1/docs#problem-{type_}" if type_ != "about:blank" else "about:blank",
        "title": str(title),
        "status": status,
        "detail": str(detail),
        "errors": [e if isinstance(e, dict) else {"field": str(e[0]), "message": str(e[1])} for e in errors],
    }


def problem_response(status, title, detail="", *, errors=(), type_="error"):
    body = problem_body(status, title, detail, errors=errors, type_=type_)
    return HttpResponse(json.dumps(body, ensure_ascii=False), status=status, content_type=PROBLEM_TYPE)
