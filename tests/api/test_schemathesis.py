"""Schemathesis fuzzes every operation of the OpenAPI document (valid and invalid input, generated from the document
itself) against the Django app over WSGI, as an HQ admin with a bearer token: no answer may be a 5xx.

It runs in both passes of scripts/test.sh (SQLite and PostgreSQL): a value one database stores and the other refuses
is exactly what it finds. The examples per operation are bounded and derandomised so the run is repeatable and short;
tests/api/test_openapi_fuzz.py keeps the hand-written hostile values beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from siyu.org.services import create_api_token
from siyu.wsgi import application
from tests.conftest import Org

EXAMPLES_PER_OPERATION = 10

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.fixture
def hq_headers(org: Org) -> dict[str, str]:
    _token, secret = create_api_token(staff=org.hq, name="schemathesis")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def _one_transaction() -> Iterator[None]:
    """Django's WSGI handler closes "obsolete" connections around each request, which inside the test's transaction
    would throw the transaction away; the test client disconnects the same hooks."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx(case: Any, hq_headers: dict[str, str], _one_transaction: None) -> None:
    response = case.call(headers=hq_headers)
    assert response.status_code < 500, f"{response.status_code} for {case.as_curl_command()}\n{response.text[:500]}"
