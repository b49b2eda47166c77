from __future__ import annotations

import pytest

from siyu.core.errors import NotFound
from siyu.customers import queries
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.customers.scoping_data import EXPECTED, build_world


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_sees_exactly_its_customers(org: Org, role: str) -> None:
    world = build_world(org)
    scope = scope_for_staff(getattr(org, role))
    assert set(queries.customers(scope).values_list("id", flat=True)) == world.ids(*EXPECTED[role])
    assert set(queries.visible_customer_ids(scope)) == world.ids(*EXPECTED[role])
    page = queries.search(scope, queries.CustomerFilter(), page_size=200)
    assert {c.pk for c in page.items} == world.ids(*EXPECTED[role])
    assert page.total == len(EXPECTED[role])


def test_get_customer_outside_scope_is_not_found(org: Org) -> None:
    world = build_world(org)
    with pytest.raises(NotFound):
        queries.get_customer(scope_for_staff(org.s1_staff), world.c["n1"].pk)
    with pytest.raises(NotFound):
        queries.get_customer(scope_for_staff(org.hq), world.c["other"].pk)
    assert queries.get_customer(scope_for_staff(org.n1_staff), world.c["n1"].pk).pk == world.c["n1"].pk


def test_filters_narrow_within_the_scope(org: Org) -> None:
    world = build_world(org)
    hq = scope_for_staff(org.hq)

    def ids(**kw: object) -> set[int]:
        return {c.pk for c in queries.search(hq, queries.CustomerFilter(**kw), page_size=200).items}  # type: ignore[arg-type]

    # store n1: home store n1, or followed (in any status) by a staff member of n1
    assert ids(store_id=org.store_n1.pk) == world.ids("n1", "home_n1", "transferred", "lost", "cross")
    assert ids(staff_id=org.n2_staff.pk) == world.ids("n2", "transferred")
    assert ids(relationship_status="deleted_by_customer") == world.ids("lost")
    # the n1 staff member filtering by another store still only sees their own customers
    mine = {
        c.pk
        for c in queries.search(scope_for_staff(org.n1_staff), queries.CustomerFilter(store_id=org.store_s1.pk)).items
    }
    assert mine == world.ids("cross")
