"""Store staff see customers' phones masked everywhere (API, console, export); managers and HQ see them whole."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from siyu.customers.privacy import mask_phone, phone_for
from siyu.org.models import Staff
from siyu.org.scope import scope_for_staff
from tests.api.conftest import Api, api_as  # noqa: F401 - the fixture
from tests.conftest import Org
from tests.console.conftest import People, people  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("phone", "shown"),
    [("13800000001", "138****0001"), ("19912345678", "199****5678"), ("", ""), ("12345", "***45"), ("12", "**")],
)
def test_mask_keeps_the_first_three_and_last_four_digits(phone: str, shown: str) -> None:
    assert mask_phone(phone) == shown


def test_who_sees_the_whole_number(org: Org) -> None:
    whole = {s.name for s in (org.hq, org.north_manager, org.n1_manager, org.n1_staff)
             if phone_for(scope_for_staff(s), "13800000001") == "13800000001"}
    assert whole == {org.hq.name, org.north_manager.name, org.n1_manager.name}
    assert phone_for(None, "13800000001") == "138****0001"


def test_the_api_masks_profile_list_and_phone_identity_for_store_staff(
    org: Org, people: People, api_as: Callable[[Staff], Api]  # noqa: F811
) -> None:
    staff, manager = api_as(org.n1_staff), api_as(org.n1_manager)
    profile = staff.get(f"/api/customers/{people.ada.pk}").json()
    assert profile["customer"]["phone"] == "138****0001"
    assert {i["value"] for i in profile["identities"] if i["kind"] == "phone"} <= {"138****0001"}
    assert [c["phone"] for c in staff.get("/api/customers").json()["items"]] == ["138****0001"]
    assert manager.get(f"/api/customers/{people.ada.pk}").json()["customer"]["phone"] == "13800000001"


def test_the_console_profile_masks_for_store_staff(client: Client, org: Org, people: People) -> None:  # noqa: F811
    assert org.n1_staff.user is not None and org.n1_manager.user is not None
    client.force_login(org.n1_staff.user)
    page = client.get(f"/customers/{people.ada.pk}/").content.decode()
    listing = client.get("/customers/").content.decode()
    assert "138****0001" in page and "13800000001" not in page
    assert "138****0001" in listing and "13800000001" not in listing
    client.force_login(org.n1_manager.user)
    assert "13800000001" in client.get(f"/customers/{people.ada.pk}/").content.decode()
