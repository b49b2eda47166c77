"""The customer profile's sections: extension points apps fill in without the console importing them (and without
the apps importing the console: the customers app, whose profile it is, keeps the registry).

A profile section is a function (request, scope, customer_id) -> HTML (e.g. from `render_to_string`), registered
under a name the profile template knows, such as "orders". An app registers it from its AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest
from django.utils.safestring import SafeString

from siyu.org.scope import Scope

ProfileSection = Callable[[HttpRequest, Scope, int], SafeString | str]

_PROFILE_SECTIONS: dict[str, ProfileSection] = {}


def register_profile_section(name: str, render: ProfileSection) -> None:
    _PROFILE_SECTIONS[name] = render


def unregister_profile_section(name: str) -> None:
    _PROFILE_SECTIONS.pop(name, None)


def profile_section(name: str) -> ProfileSection | None:
    """The function registered under `name`, if any (tests use it to put back what an app registered)."""
    return _PROFILE_SECTIONS.get(name)


def render_profile_section(name: str, *, request: HttpRequest, scope: Scope, customer_id: int) -> SafeString | str:
    """The section's HTML, or "" when no app has registered it (the template then shows its own empty state)."""
    render = _PROFILE_SECTIONS.get(name)
    return render(request, scope, customer_id) if render is not None else ""


# ---------------------------------------------------------------------------------------------------------------
# Names for what a customer's relationships and timeline refer to by key (a source `state`, an order id), which
# other apps own: "source" (state -> channel code name) from WeCom, "order_items" (order id -> its items) from the
# orders. Each namer answers for a whole page of keys in one query; a kind nobody registered names nothing.

Namer = Callable[[Scope, set[Any]], dict[Any, str]]

_NAMERS: dict[str, Namer] = {}


def register_namer(kind: str, namer: Namer) -> None:
    _NAMERS[kind] = namer


def names(kind: str, scope: Scope, keys: Iterable[Any]) -> dict[Any, str]:
    wanted = {key for key in keys if key not in (None, "")}
    namer = _NAMERS.get(kind)
    return namer(scope, wanted) if namer is not None and wanted else {}
