"""API authentication: a bearer token for integrations, the console session for the browser. Both yield a Scope."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer

from siyu.core.errors import PermissionDenied
from siyu.org.queries import acting_user
from siyu.org.scope import Scope, scope_for_user
from siyu.org.services import authenticate_token


class TokenAuth(HttpBearer):
    openapi_description = "Integration token: `Authorization: Bearer siyu_...` (create one under Settings → API tokens)"

    def authenticate(self, request: HttpRequest, token: str) -> Scope | None:
        try:
            return authenticate_token(token)
        except PermissionDenied:
            return None


class SessionScopeAuth(APIKeyCookie):
    """The console's session cookie. A browser sends it with any request, whichever site started it, so unsafe
    methods must also carry the CSRF token (the `X-CSRFToken` header, or `csrfmiddlewaretoken` in a form): ninja's
    APIKeyCookie runs Django's CSRF check when it reads the cookie, and ninja's views are otherwise CSRF-exempt.

    A bearer token is tried first (API_AUTH's order) and needs no CSRF token: no browser adds it on its own."""

    param_name = "sessionid"
    openapi_description = "Console session (signed-in operators); unsafe methods need the X-CSRFToken header"

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # no session to abuse: a plain 401, not a CSRF failure
        return super().__call__(request)

    def _get_key(self, request: HttpRequest) -> Any:
        try:
            return super()._get_key(request)  # Django's CSRF check for unsafe methods, then the cookie
        except HttpError as exc:
            raise PermissionDenied(
                _("CSRF check failed: send the csrftoken cookie's value in the X-CSRFToken header"), code="csrf_failed"
            ) from exc

    def authenticate(self, request: HttpRequest, key: str | None) -> Scope | None:
        try:
            return scope_for_user(request.user)
        except PermissionDenied:
            return None


def scope_of(request: HttpRequest) -> Scope:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, Scope):
        raise PermissionDenied(_("not authenticated"))
    return auth


def actor_of(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    auth = getattr(request, "auth", None)
    return acting_user(auth) if isinstance(auth, Scope) else None  # a token acts as its staff member's user


API_AUTH = [TokenAuth(), SessionScopeAuth()]
