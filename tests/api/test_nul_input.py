"""NUL (0x00) in API input is a 400 naming the parameter, on every database (PostgreSQL cannot store it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from siyu.customers.models import Customer
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org

pytestmark = pytest.mark.django_db


def test_nul_in_a_query_parameter_or_a_json_body_is_refused(org: Org, api_as: Callable[[Staff], Api]) -> None:
    api = api_as(org.hq)
    listed = api.get("/api/customers", q="a\x00b")
    assert listed.status_code == 400
    assert (listed.json()["code"], listed.json()["field"]) == ("invalid_character", "q")
    created = api.post("/api/customers", {"name": "Wang\u0000Fang"})
    assert created.status_code == 400 and created.json()["field"] == "body"
    assert Customer.objects.count() == 0
    assert api.post("/api/customers", {"name": "Wang Fang"}).status_code == 201
