"""The API's language, and refusing API input that no database field may hold: a NUL character (0x00) in a query
parameter or a JSON body.

PostgreSQL text cannot store NUL, so such a value would fail deep inside a write as a 500 (on SQLite it would be
stored and break exports later). Refusing it at the door gives the caller a 400 that names the parameter.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation.trans_real import parse_accept_lang_header

from siyu.core.errors import DomainError

NUL = "\x00"
API_DEFAULT_LANGUAGE = "en"


class ApiLanguageMiddleware:
    """Error messages of the API in the caller's language: the Accept-Language header when it names a language we
    have, else the language the console user picked (the cookie), else English. The code of an error never changes
    with the language; clients branch on the code, people read the message. Runs after LocaleMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        language = api_language(request)
        request.LANGUAGE_CODE = language
        with translation.override(language):  # the thread's language is left as it was found
            response = self.get_response(request)
        response.headers["Content-Language"] = language
        return response


def api_language(request: HttpRequest) -> str:
    for code, _quality in parse_accept_lang_header(request.META.get("HTTP_ACCEPT_LANGUAGE", "")):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if cookie and translation.check_for_language(cookie):
        try:
            return translation.get_supported_language_variant(cookie)
        except LookupError:
            pass
    return API_DEFAULT_LANGUAGE


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
    error = DomainError(_("text may not contain the NUL character (\\u0000)"), field=field, code="invalid_character")
    return JsonResponse(error.as_dict(), status=error.status)
