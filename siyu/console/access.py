"""Who is looking: the console user's Scope, worked out once per request."""

from __future__ import annotations

from django.http import HttpRequest

from siyu.org.scope import Scope, scope_for_user

_CACHE_ATTR = "_siyu_scope"


def scope_of(request: HttpRequest) -> Scope:
    """The signed-in user's scope; raises siyu.core.errors.PermissionDenied when they have none."""
    cached = getattr(request, _CACHE_ATTR, None)
    if isinstance(cached, Scope):
        return cached
    scope = scope_for_user(request.user)
    setattr(request, _CACHE_ATTR, scope)
    return scope
