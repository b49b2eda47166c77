"""Every operation in the OpenAPI document, called with hostile values as an HQ admin and as a shopper: a 4xx or a
2xx, never a 500. The values come from the document itself (each parameter's type), so a new endpoint is covered
the day it is added."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from siyu.org.services import create_api_token
from tests.conftest import Org

pytestmark = pytest.mark.django_db

HOSTILE_INTS = [-1, 0, 2**63, 10**12]
HOSTILE_STRINGS = ["", "x" * 5000, "' OR 1=1 --", "\u0000", "中文"]


def _value(schema: dict[str, Any], n: int) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return HOSTILE_INTS[n % len(HOSTILE_INTS)]
    if kind == "boolean":
        return "maybe"
    if kind == "array":
        return ["x"]
    return HOSTILE_STRINGS[n % len(HOSTILE_STRINGS)]


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


def _call(client: Client, headers: dict[str, str], path: str, method: str, op: dict[str, Any], n: int) -> int:
    query: dict[str, Any] = {}
    for param in op.get("parameters", []):
        value = _value(param.get("schema", {}), n)
        if param["in"] == "path":
            path = path.replace("{" + param["name"] + "}", str(abs(int(value))) if isinstance(value, int) else "1")
        elif param["in"] == "query":
            query[param["name"]] = value
    bodies = ['{"unexpected": true}', "[]", "not json", json.dumps({"x": "y" * 5000, "name": "\u0000"})]
    body = bodies[n % len(bodies)]
    if method == "get":
        response = client.get(path, query, headers=headers)
    else:
        url = path + ("?" + "&".join(f"{k}=1" for k in query) if query else "")
        response = client.generic(method.upper(), url, body, content_type="application/json", headers=headers)
    return response.status_code


def test_no_operation_answers_500_to_hostile_input(org: Org, settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client = Client(raise_request_exception=False)
    schema = client.get("/api/openapi.json").json()
    _token, secret = create_api_token(staff=org.hq, name="fuzz")
    headers = {"Authorization": f"Bearer {secret}"}
    failures = []
    operations = _operations(schema)
    assert len(operations) > 100
    for path, method, op in operations:
        for n in range(4):
            status = _call(client, headers, path, method, op, n)
            if status >= 500:
                failures.append((method.upper(), path, n, status))
    assert failures == []
