"""When an identity is taken, the refusal says by whom only to a caller who may see that customer, and never across
brands: another brand's phone holder does not exist for the caller at all."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from siyu.customers import services
from siyu.customers.models import Customer, Identity
from siyu.customers.services import IdentityInput
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org
from tests.factories import EnterpriseFactory, RegionFactory, StaffFactory, StoreFactory, UserFactory

pytestmark = pytest.mark.django_db

THEIRS = "13955550001"  # held by a Guangzhou customer (s1 store), whom n1 staff cannot see
ALSO_THEIRS = "13955550002"  # held by a customer with no store and no follower (HQ only)


@pytest.fixture
def people(org: Org) -> dict[str, Customer]:
    ent = org.enterprise.pk
    mine = services.create_customer(enterprise_id=ent, name="Mine", home_store_id=org.store_n1.pk)
    services.add_relationship(customer=mine, staff=org.n1_staff, added_at=mine.created_at)
    far = services.create_customer(enterprise_id=ent, name="Far Away", phone=THEIRS, home_store_id=org.store_s1.pk)
    services.add_relationship(customer=far, staff=org.s1_staff, added_at=far.created_at)
    nobody = services.create_customer(enterprise_id=ent, name="Nobody's", phone=ALSO_THEIRS)
    return {"mine": mine, "far": far, "nobody": nobody}


def _refusal(api: Api, customer: Customer, phone: str, *, patch: bool) -> dict[str, str]:
    if patch:
        response = api.patch(f"/api/customers/{customer.pk}", {"phone": phone})
    else:
        response = api.post(f"/api/customers/{customer.pk}/identities", {"kind": "phone", "value": phone})
    assert response.status_code == 409, response.content
    body: dict[str, str] = response.json()
    assert body["code"] == "identity_taken"
    return body


@pytest.mark.parametrize("patch", [True, False])
def test_store_staff_learn_nothing_about_who_holds_a_phone(
    org: Org, people: dict[str, Customer], api_as: Callable[[Staff], Api], patch: bool
) -> None:
    api = api_as(org.n1_staff)
    first = _refusal(api, people["mine"], THEIRS, patch=patch)
    second = _refusal(api, people["mine"], ALSO_THEIRS, patch=patch)
    for body, holder in ((first, people["far"]), (second, people["nobody"])):
        text = str(body)
        assert not re.search(rf"\b{holder.pk}\b", text) and holder.name not in text
        assert org.store_s1.name not in text
    # the same words whoever holds the number and wherever: only the number the caller typed differs
    assert first["message"].replace(THEIRS, "#") == second["message"].replace(ALSO_THEIRS, "#")
    assert not Identity.objects.filter(customer=people["mine"], kind="phone").exists()


def test_a_manager_who_sees_the_holder_is_told_who_it_is(
    org: Org, people: dict[str, Customer], api_as: Callable[[Staff], Api]
) -> None:
    services.add_relationship(customer=people["mine"], staff=org.s1_staff, added_at=people["mine"].created_at)
    hq = _refusal(api_as(org.hq), people["mine"], ALSO_THEIRS, patch=True)
    assert f"customer {people['nobody'].pk}" in hq["message"]
    south = StaffFactory.create(enterprise=org.enterprise, name="south_mgr", wecom_userid="south_mgr",
                                role="region_manager", region=org.south, user=UserFactory.create(username="south_mgr"))
    manager = _refusal(api_as(south), people["mine"], THEIRS, patch=True)
    assert f"customer {people['far'].pk}" in manager["message"]


def test_another_brands_phone_is_free_in_this_brand(
    org: Org, people: dict[str, Customer], api_as: Callable[[Staff], Api]
) -> None:
    other = EnterpriseFactory.create(code="other-brand", name="Other")
    store = StoreFactory.create(region=RegionFactory.create(enterprise=other, code="x"), code="x1")
    their_hq = StaffFactory.create(enterprise=other, name="their_hq", wecom_userid="their_hq", role="hq_admin",
                                   user=UserFactory.create(username="their_hq"))
    created = api_as(their_hq).post("/api/customers", {"name": "Theirs", "phone": THEIRS, "home_store_id": store.pk,
                                                       "identities": [{"kind": "unionid", "value": "oU-1"}]})
    assert created.status_code == 201, created.content
    services.attach_identity(customer=people["far"], identity=IdentityInput(kind="unionid", value="oU-1"))
    assert Customer.objects.get(pk=created.json()["id"]).enterprise_id == other.pk
