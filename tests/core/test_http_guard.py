"""The suite-wide guard (tests/conftest.py) really sees an HTTP call made inside a service's transaction, and does
not mistake the test harness's own transaction for one."""

from __future__ import annotations

import httpx
import pytest
from django.db import transaction

from tests import conftest


def _transport(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


@pytest.mark.django_db
def test_a_call_inside_atomic_is_recorded_and_one_outside_is_not() -> None:
    client = httpx.Client(transport=httpx.MockTransport(_transport))
    client.get("http://platform.invalid/outside")
    assert conftest._HTTP_IN_TRANSACTION == []  # the harness's own atomic block does not count
    with transaction.atomic():
        client.get("http://platform.invalid/inside")
    assert len(conftest._HTTP_IN_TRANSACTION) == 1
    assert "/inside inside a transaction" in conftest._HTTP_IN_TRANSACTION[0]
    conftest._HTTP_IN_TRANSACTION.clear()  # this test made the call on purpose


@pytest.mark.django_db(transaction=True)
def test_the_guard_also_works_without_the_harness_transaction() -> None:
    client = httpx.Client(transport=httpx.MockTransport(_transport))
    client.get("http://platform.invalid/outside")
    assert conftest._HTTP_IN_TRANSACTION == []
    with transaction.atomic(), transaction.atomic():
        client.post("http://platform.invalid/nested")
    assert len(conftest._HTTP_IN_TRANSACTION) == 1
    conftest._HTTP_IN_TRANSACTION.clear()
