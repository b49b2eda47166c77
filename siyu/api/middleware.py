"""Refuse API input that no database field may hold: a NUL character (0x00) in a query parameter or a JSON body.

PostgreSQL text cannot store NUL, so such a value would fail deep inside a write as a 500 (on SQLite it would be
stored and break exports later). Refusing it at the door gives the caller a 400 that names the parameter.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from siyu.core.errors import DomainError

NUL = "\x00"


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            refused = _refusal(request)
            if refused is not None:
                return refused
        return self.get_response(request)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    for key, values in request.GET.lists():
        if NUL in key or any(NUL in value for value in values):
            return _bad(key.replace(NUL, ""))
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.content_type == "multipart/form-data":
            return _form_refusal(request)
        body = request.body
        if b"\x00" in body or b"\\u0000" in body:
            return _bad("body")
    return None


def _form_refusal(request: HttpRequest) -> HttpResponse | None:
    """A multipart upload: its files are binary (NUL is normal there, and their content is checked by the endpoint
    that takes them); the text fields and the file names are held to the rule."""
    for key, values in request.POST.lists():
        if NUL in key or any(NUL in value for value in values):
            return _bad(key.replace(NUL, ""))
    for key, files in request.FILES.lists():
        if NUL in key or any(NUL in (f.name or "") for f in files):
            return _bad(key.replace(NUL, ""))
    return None


def _bad(field: str) -> JsonResponse:
    error = DomainError("text may not contain the NUL character (\\u0000)", field=field, code="invalid_character")
    return JsonResponse(error.as_dict(), status=error.status)
