"""Hand-built customers spread over the `org` fixture, and who may see which (worked out by hand from DESIGN.md:
staff see the customers they follow, store managers their store, region managers their region, HQ all)."""

from __future__ import annotations

from dataclasses import dataclass

from siyu.customers.models import Customer, RelationshipStatus
from siyu.org.models import Role
from tests.conftest import Org
from tests.factories import CustomerFactory, EnterpriseFactory, RegionFactory, RelationshipFactory, StaffFactory


@dataclass
class World:
    c: dict[str, Customer]

    def ids(self, *names: str) -> set[int]:
        return {self.c[name].pk for name in names}


def build_world(org: Org) -> World:
    ent = org.enterprise

    def customer(**kw: object) -> Customer:
        return CustomerFactory.create(enterprise=ent, **kw)

    c = {
        "n1": customer(),  # followed by n1 staff
        "n2": customer(),  # followed by n2 staff
        "s1": customer(),  # followed by s1 staff
        "home_n1": customer(home_store=org.store_n1),  # nobody follows; home store n1
        "transferred": customer(),  # n1 staff handed it over to n2 staff
        "lost": customer(),  # deleted n1 staff on their side; still n1's (lost) customer
        "cross": customer(home_store=org.store_s1),  # home store in the south, followed by n1 staff
        "nobody": customer(),  # no store, no follower: HQ only
        "region_staff": customer(),  # followed by the north region manager (a staff member without a store)
    }
    RelationshipFactory.create(customer=c["n1"], staff=org.n1_staff)
    RelationshipFactory.create(customer=c["n2"], staff=org.n2_staff)
    RelationshipFactory.create(customer=c["s1"], staff=org.s1_staff)
    RelationshipFactory.create(customer=c["transferred"], staff=org.n1_staff, status=RelationshipStatus.TRANSFERRED)
    RelationshipFactory.create(customer=c["transferred"], staff=org.n2_staff)
    RelationshipFactory.create(customer=c["lost"], staff=org.n1_staff, status=RelationshipStatus.DELETED_BY_CUSTOMER)
    RelationshipFactory.create(customer=c["cross"], staff=org.n1_staff)
    RelationshipFactory.create(customer=c["region_staff"], staff=org.north_manager)

    # Invisible to everyone in this enterprise: merged away, or another brand's customer.
    merged = customer(merged_into=c["n1"])
    RelationshipFactory.create(customer=merged, staff=org.n1_staff)
    other_ent = EnterpriseFactory.create(code="other-brand", name="Other")
    other_region = RegionFactory.create(enterprise=other_ent, code="north")
    other_staff = StaffFactory.create(enterprise=other_ent, role=Role.STORE_STAFF, region=other_region)
    other = CustomerFactory.create(enterprise=other_ent)
    RelationshipFactory.create(customer=other, staff=other_staff)
    c["merged"], c["other"] = merged, other
    return World(c=c)


EXPECTED = {
    "hq": {"n1", "n2", "s1", "home_n1", "transferred", "lost", "cross", "nobody", "region_staff"},
    "north_manager": {"n1", "n2", "home_n1", "transferred", "lost", "cross", "region_staff"},
    "n1_manager": {"n1", "home_n1", "lost", "cross"},
    "n1_staff": {"n1", "lost", "cross"},
    "s1_staff": {"s1"},
}
