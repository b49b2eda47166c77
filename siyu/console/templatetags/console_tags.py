"""Template helpers for the console layout: who is signed in (for the nav) and pager links that keep the filters."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest

from siyu.console.access import scope_of
from siyu.core.errors import PermissionDenied
from siyu.customers import privacy
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

register = template.Library()


@register.simple_tag(takes_context=True)
def console_user(context: dict[str, Any]) -> dict[str, Any] | None:
    """The signed-in person's name, role label and whether they are HQ; None when they have no scope."""
    request: HttpRequest | None = context.get("request")
    if request is None or not request.user.is_authenticated:
        return None
    try:
        scope = scope_of(request)
    except PermissionDenied:
        return None
    role = org_queries.Roles(scope.role).label if scope.role in org_queries.Roles.values else scope.role
    return {"name": scope.label or request.user.get_username(), "role": role, "is_hq": scope.is_hq,
            "is_manager": scope.is_manager}


@register.simple_tag(takes_context=True)
def page_url(context: dict[str, Any], number: int, param: str = "page") -> str:
    """The current URL's query string with one page parameter changed."""
    param = param or "page"
    request: HttpRequest | None = context.get("request")
    query = request.GET.copy() if request is not None else None
    if query is None:
        return f"?{param}={number}"
    query[param] = str(number)
    return "?" + query.urlencode()


@register.filter
def phone_for(phone: str, scope: Scope | None) -> str:
    """A customer's phone as this viewer may see it (masked for store staff)."""
    return privacy.phone_for(scope, phone or "")
