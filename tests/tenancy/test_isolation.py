"""Two brands side by side (tests/tenancy/world.py): every API GET operation (from the OpenAPI document) and every
console page (from the URL resolver), called by each role of one brand, never shows anything of the other brand.

Each route is called three ways: with the caller's own ids (HQ must get 200, which proves the ids fit the route),
with the other brand's ids in the path (404: nothing of it exists for the caller; 403 is allowed where a role may not
open the page at all), and with the other brand's ids in every `*_id` query parameter (any status but 5xx). No body
may carry the other brand's marker or one of its phone numbers. New routes are covered the day they are added; a
path parameter this test cannot fill fails it, so the world gets the row it needs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.tenancy.world import ROLES, Brand, leaks

pytestmark = pytest.mark.django_db

# Routes that belong to the platforms or to anonymous visitors, not to a signed-in brand's staff.
CONSOLE_SKIP = ("admin/", "i18n/", "api/", "login/", "logout/", "callback/", "oauth/", "channels/wecom/qr/",
                "channels/wecom/gq/",
                # a participant's share link and poster: public, the token names one participant of one brand
                "referrals/r/")
ACTION_VALUES = {"action": "refresh", "kind": "sms", "which": "file", "account_kind": "wecom", "picker": "staff"}
# The first-run wizard is for an install with no enterprise yet (anonymous, then closed for good: 404 here).
CONSOLE_SKIP_EXACT = ("setup/",
                      # content's tracked-link redirect: public, its token signs the enterprise with the material
                      # (tests/content/test_tracked_links.py: another enterprise's token for a material is a 404)
                      "l/<str:token>",
                      # a campaign's tracked link: public, the token is unguessable and names one delivery of one
                      # enterprise (tests/messaging/test_links.py: an unknown token is a 404, no open redirect)
                      "c/<str:token>",
                      # Prometheus metrics: no enterprise's data, only counts, behind a scraper token (404 without
                      # one; tests/ops/test_observability.py)
                      "metrics")
# The H5 mall (/m/<enterprise code>/...): customers' pages, not staff's; a shopper's session is per brand and their
# orders are theirs alone (tests/storefront/mall: another brand's URL asks to sign in, another customer's order 404s).
CONSOLE_SKIP_PREFIXES = ("m/",)
# Pages on which HQ must see its own brand's marker: proof that the pages checked are not simply empty.
OWN_DATA_PAGES = ("/customers/", "/tags/", "/audit/", "/orders/", "/catalog/", "/channels/wecom/mass-sends/",
                  "/oa/keywords/", "/api/customers", "/api/admin/orders", "/api/channels/wecom/codes", "/content/",
                  "/channels/wecom/group-codes/", "/api/channels/wecom/group-codes",
                  "/channels/wecom/keyword-groups/", "/api/channels/wecom/keyword-groups",
                  "/channels/wecom/tag-built-groups/", "/api/channels/wecom/tag-built-groups",
                  "/content/scripts/", "/content/moments/", "/content/ugc/", "/api/content/materials",
                  "/finance/reconciliation/", "/analytics/costs/",
                  "/api/content/scripts", "/api/content/ugc", "/api/finance/commission-rules",
                  "/finance/commissions/rules/", "/setup/accounts/", "/api/setup/accounts",
                  "/api/setup/pay-merchants", "/channels/wecom/directory/", "/org/stores/",
                  "/referrals/", "/api/referrals/campaigns")


def _key(path: str, name: str, ids: dict[str, int]) -> str:
    for prefix, marker in (("wecom", "/wecom/"), ("oa", "/oa/")):
        if marker in path and f"{prefix}:{name}" in ids:
            return f"{prefix}:{name}"
    return name


def _fill(path: str, names: list[str], brand: Brand) -> str:
    for name in names:
        if name in ACTION_VALUES:
            value = ACTION_VALUES[name]
        elif name in brand.words:
            value = brand.words[name]
        else:
            key = _key(path, name, brand.ids)
            assert key in brand.ids, f"the world has no row for {name} in {path}"
            value = str(brand.ids[key])
        path = re.sub(r"\{" + name + r"\}|<(?:\w+:)?" + name + ">", value, path)
    return path


# ---------------------------------------------------------------------------------------------------------------
# API


def _api_operations(client: Client) -> list[tuple[str, dict[str, Any]]]:
    schema = client.get("/api/openapi.json").json()
    return [(path, ops["get"]) for path, ops in schema["paths"].items() if "get" in ops and path != "/api/health"]


def _query_ids(path: str, op: dict[str, Any], other: Brand) -> dict[str, int]:
    out = {}
    for param in op.get("parameters", []):
        name = param["name"]
        if param["in"] == "query" and name.endswith("_id"):
            key = _key(path, name, other.ids)
            if key in other.ids:
                out[name] = other.ids[key]
    return out


# Required query parameters that are not `*_id` filters, and the brand's object each names.
REQUIRED_QUERY = {"other": "second_customer_id"}


def _required_query(op: dict[str, Any], brand: Brand) -> dict[str, int]:
    return {p["name"]: brand.ids[REQUIRED_QUERY[p["name"]]] for p in op.get("parameters", [])
            if p["in"] == "query" and p.get("required") and p["name"] in REQUIRED_QUERY}


def _text(response: Any) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode("utf-8", "replace")


def _api_checks(client: Client, me: Brand, other: Brand) -> Iterator[str]:
    for path, op in _api_operations(client):
        storefront = path.startswith("/api/storefront/")
        for role in ["shopper"] if storefront else list(ROLES):
            secret = me.shopper_token if storefront else me.tokens[role]
            yield from _api_route(client, {"Authorization": f"Bearer {secret}"}, role, path, op, me, other)


def _api_route(
    client: Client, headers: dict[str, str], role: str, path: str, op: dict[str, Any], me: Brand, other: Brand
) -> Iterator[str]:
    names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
    needed = _required_query(op, me)
    own = client.get(_fill(path, names, me), needed, headers=headers)
    if role in ("hq", "shopper") and own.status_code != 200:
        yield f"{role} GET {path} with own ids: {own.status_code} {own.content[:200]!r}"
    if role == "hq" and path in OWN_DATA_PAGES and me.mark not in _text(own):
        yield f"{role} GET {path} does not show its own brand"
    calls = [("own ids", own)]
    if names:
        theirs = client.get(_fill(path, names, other), _required_query(op, other), headers=headers)
        allowed = {404} if role in ("hq", "shopper") else {403, 404}
        if theirs.status_code not in allowed:
            yield f"{role} GET {path} with the other brand's ids: {theirs.status_code}"
        calls.append(("other ids", theirs))
    query = _query_ids(path, op, other)
    if query:
        filtered = client.get(_fill(path, names, me), {**needed, **query}, headers=headers)
        if filtered.status_code >= 500:
            yield f"{role} GET {path}?{query}: {filtered.status_code}"
        calls.append((f"query {sorted(query)}", filtered))
    for how, response in calls:
        found = leaks(_text(response), other)
        if found:
            yield f"{role} GET {path} ({how}) shows {found}"


def test_no_api_operation_shows_another_brand(brands: tuple[Brand, Brand]) -> None:
    a, b = brands
    client = Client()
    failures = [*_api_checks(client, a, b), *_api_checks(client, b, a)]
    assert failures == []


# ---------------------------------------------------------------------------------------------------------------
# Console


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def console_routes() -> list[str]:
    out = []
    for route in _routes(get_resolver().url_patterns):
        if route.startswith(("^", *CONSOLE_SKIP_PREFIXES)) or route in CONSOLE_SKIP_EXACT \
                or any(part in route for part in CONSOLE_SKIP):
            continue
        out.append("/" + route)
    return out


def _filters(path: str, other: Brand) -> dict[str, Any]:
    account = other.ids["oa:account_id"] if path.startswith("/oa/") else other.ids["wecom:account_id"]
    return {"store": other.ids["store_id"], "staff": other.ids["staff_id"], "tag": other.ids["tag_id"],
            "region": other.ids["region_id"], "customer": other.ids["customer_id"], "account": account,
            "category": other.ids["category_id"], "q": other.phones[0]}


def _console_checks(me: Brand, other: Brand) -> Iterator[str]:
    for role in ROLES:
        client = Client()
        client.force_login(me.staff[role].user)  # type: ignore[arg-type]
        for route in console_routes():
            yield from _console_route(client, role, route, me, other)


def _body(response: Any) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return str(raw.decode("utf-8", "replace"))


def _console_route(client: Client, role: str, route: str, me: Brand, other: Brand) -> Iterator[str]:
    names = re.findall(r"<(?:\w+:)?(\w+)>", route)
    own = client.get(_fill(route, names, me))
    if role == "hq" and own.status_code not in (200, 405):
        yield f"{role} GET {route} with own ids: {own.status_code}"
    if role == "hq" and route in OWN_DATA_PAGES and me.mark not in _body(own):
        yield f"{role} GET {route} does not show its own brand"
    calls = [("own ids", own), ("other filters", client.get(_fill(route, names, me), _filters(route, other)))]
    if any(name not in ACTION_VALUES for name in names):
        theirs = client.get(_fill(route, names, other))
        allowed = {404, 405} if role == "hq" else {403, 404, 405}
        if theirs.status_code not in allowed:
            yield f"{role} GET {route} with the other brand's ids: {theirs.status_code}"
        calls.append(("other ids", theirs))
    for how, response in calls:
        if response.status_code >= 500:
            yield f"{role} GET {route} ({how}): {response.status_code}"
        found = leaks(_body(response), other)
        if how == "other filters":  # the searched phone is the caller's own input, echoed in the form
            found = [item for item in found if item != other.phones[0]]
        if found:
            yield f"{role} GET {route} ({how}) shows {found}"

def test_no_console_page_shows_another_brand(brands: tuple[Brand, Brand]) -> None:
    a, b = brands
    routes = console_routes()
    assert "/customers/<int:customer_id>/" in routes and "/orders/<int:order_id>/" in routes
    failures = [*_console_checks(a, b), *_console_checks(b, a)]
    assert failures == []
