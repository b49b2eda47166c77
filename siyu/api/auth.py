"""API authentication: a bearer token for integrations, the console session for the browser. Both yield a Scope."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
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
    """The console's session cookie; CSRF is checked on unsafe methods."""

    param_name = "sessionid"
    openapi_description = "Console session (signed-in operators)"

    def _get_key(self, request: HttpRequest) -> Any:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Scope | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        try:
            return scope_for_user(user)
        except PermissionDenied:
            return None


def scope_of(request: HttpRequest) -> Scope:
    auth = getattr(request, "auth", None)
    if not isinstance(auth, Scope):
        raise PermissionDenied("not authenticated")
    return auth


def actor_of(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    auth = getattr(request, "auth", None)
    return acting_user(auth) if isinstance(auth, Scope) else None  # a token acts as its staff member's user


API_AUTH = [TokenAuth(), SessionScopeAuth()]
