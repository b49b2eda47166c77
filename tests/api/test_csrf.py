"""CSRF on the session-authenticated API: a signed-in operator's browser must not be driven by another site.

Every unsafe operation (POST/PUT/PATCH/DELETE) is taken from the OpenAPI document, so a route added tomorrow is
covered without touching this file. The client enforces CSRF the way a browser meets it (Django's test client skips
the check unless told otherwise).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from siyu.api.main import api
from siyu.org.services import create_api_token
from tests.conftest import Org

pytestmark = pytest.mark.django_db

UNSAFE = ("post", "put", "patch", "delete")
# Unsafe operations that no console session can drive, with the reason (anything else must accept the session).
NO_SESSION = {
    ("post", "/api/storefront/login"): "the shopper signs in with a WeChat code and gets a bearer token back",
}


def _unsafe_operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = api.get_openapi_schema()
    return [
        (method, path, op)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if method in UNSAFE
    ]


OPERATIONS = _unsafe_operations()


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _session_auth(op: dict[str, Any]) -> bool:
    return any("SessionScopeAuth" in entry for entry in op.get("security") or [])


def _send(client: Client, method: str, path: str, headers: dict[str, str] | None = None) -> Any:
    return client.generic(method.upper(), _url(path), "{}", content_type="application/json", headers=headers or {})


def _signed_in(org: Org) -> Client:
    client = Client(enforce_csrf_checks=True)
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    return client


def _csrf_token(client: Client) -> str:
    client.get("/")  # any console page sets the csrftoken cookie
    return client.cookies["csrftoken"].value


def _is_csrf_refusal(response: Any) -> bool:
    return response.status_code == 403 and response.json().get("code") == "csrf_failed"


def test_the_document_lists_unsafe_operations() -> None:
    assert len(OPERATIONS) > 60
    assert sum(_session_auth(op) for _m, _p, op in OPERATIONS) > 50


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=[f"{m.upper()} {p}" for m, p, _ in OPERATIONS])
def test_a_session_without_the_csrf_token_is_refused(org: Org, method: str, path: str, op: dict[str, Any]) -> None:
    client = _signed_in(org)
    response = _send(client, method, path)
    if _session_auth(op):
        assert _is_csrf_refusal(response), (response.status_code, response.content[:200])
    elif op.get("security"):
        assert response.status_code == 401  # another scheme (the shopper's bearer token): the session opens nothing
    else:
        assert (method, path) in NO_SESSION, "an unsafe operation without authentication: say why it is safe"


SESSION_OPERATIONS = [(m, p) for m, p, op in OPERATIONS if _session_auth(op)]
SESSION_IDS = [f"{m.upper()} {p}" for m, p in SESSION_OPERATIONS]


@pytest.mark.parametrize(("method", "path"), SESSION_OPERATIONS, ids=SESSION_IDS)
def test_a_session_with_the_csrf_token_passes_the_gate(org: Org, method: str, path: str) -> None:
    client = _signed_in(org)
    response = _send(client, method, path, {"X-CSRFToken": _csrf_token(client)})
    assert not _is_csrf_refusal(response)
    assert response.status_code != 401


def test_a_bearer_token_needs_no_csrf_token(org: Org) -> None:
    _token, secret = create_api_token(staff=org.hq, name="integration")
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/customers", '{"name": "Li Lei"}', content_type="application/json",
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 201, response.content
    tag_group = client.post("/api/tag-groups", '{"name": "Interests"}', content_type="application/json",
                            headers={"Authorization": f"Bearer {secret}"})
    assert tag_group.status_code == 201, tag_group.content


def test_a_bearer_token_beside_a_session_cookie_needs_no_csrf_token(org: Org) -> None:
    _token, secret = create_api_token(staff=org.hq, name="integration")
    client = _signed_in(org)
    response = client.post("/api/customers", '{"name": "Han Meimei"}', content_type="application/json",
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 201, response.content


def test_an_anonymous_post_is_unauthorised_not_a_csrf_failure(db: None) -> None:
    response = Client(enforce_csrf_checks=True).post("/api/customers", "{}", content_type="application/json")
    assert response.status_code == 401


def test_a_session_with_a_forged_token_is_refused(org: Org) -> None:
    client = _signed_in(org)
    _csrf_token(client)
    response = client.post("/api/customers", '{"name": "Li Lei"}', content_type="application/json",
                           headers={"X-CSRFToken": "x" * 32})
    assert _is_csrf_refusal(response)


def test_a_session_with_the_token_writes(org: Org) -> None:
    client = _signed_in(org)
    response = client.post("/api/customers", '{"name": "Li Lei"}', content_type="application/json",
                           headers={"X-CSRFToken": _csrf_token(client)})
    assert response.status_code == 201, response.content
