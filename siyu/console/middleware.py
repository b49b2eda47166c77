"""The console speaks Chinese unless the user picks another language with the selector (a cookie).

Django's LocaleMiddleware would otherwise follow the browser's Accept-Language, so an English-language browser in a
Chinese company would land on English pages. This runs just before it and hides that header (not for the API:
`ApiLanguageMiddleware` picks the API's language from it).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class ChineseByDefaultMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/"):
            request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
