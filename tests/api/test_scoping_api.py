from __future__ import annotations

from collections.abc import Callable

import pytest

from siyu.customers.models import Customer
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org
from tests.customers.scoping_data import EXPECTED, build_world


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_list_shows_exactly_the_callers_customers(org: Org, api_as: Callable[[Staff], Api], role: str) -> None:
    world = build_world(org)
    response = api_as(getattr(org, role)).get("/api/customers", page_size=200)
    assert response.status_code == 200
    body = response.json()
    assert {item["id"] for item in body["items"]} == world.ids(*EXPECTED[role])
    assert body["total"] == len(EXPECTED[role])


def test_pages_are_disjoint_and_complete(org: Org, api_as: Callable[[Staff], Api]) -> None:
    world = build_world(org)
    api = api_as(org.hq)
    seen: list[int] = []
    for page in (1, 2, 3):
        body = api.get("/api/customers", page=page, page_size=4).json()
        assert body["pages"] == 3 and body["total"] == 9
        seen += [item["id"] for item in body["items"]]
    assert sorted(seen) == sorted(world.ids(*EXPECTED["hq"]))


def test_store_staff_cannot_read_or_update_a_customer_outside_their_scope(
    org: Org, api_as: Callable[[Staff], Api]
) -> None:
    world = build_world(org)
    target = world.c["n1"]
    s1 = api_as(org.s1_staff)
    assert s1.get(f"/api/customers/{target.pk}").status_code == 404
    response = s1.patch(f"/api/customers/{target.pk}", {"name": "hijacked"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert s1.post(f"/api/customers/{target.pk}/identities", {"kind": "unionid", "value": "X"}).status_code == 404
    target.refresh_from_db()
    assert target.name != "hijacked"
    # ... while the follower may
    assert api_as(org.n1_staff).patch(f"/api/customers/{target.pk}", {"name": "Renamed"}).status_code == 200
    assert Customer.objects.get(pk=target.pk).name == "Renamed"


def test_scoped_manager_cannot_move_a_customer_to_a_store_outside_their_scope(
    org: Org, api_as: Callable[[Staff], Api]
) -> None:
    world = build_world(org)
    response = api_as(org.n1_manager).patch(
        f"/api/customers/{world.c['home_n1'].pk}", {"home_store_id": org.store_s1.pk}
    )
    assert response.status_code == 404
    assert response.json()["field"] == "home_store_id"
    assert Customer.objects.get(pk=world.c["home_n1"].pk).home_store_id == org.store_n1.pk


def test_other_enterprise_customer_is_invisible_even_to_hq(org: Org, api_as: Callable[[Staff], Api]) -> None:
    world = build_world(org)
    assert api_as(org.hq).get(f"/api/customers/{world.c['other'].pk}").status_code == 404
