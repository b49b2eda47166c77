"""Searchable, paged pickers: a page of matches per request, only what the caller may see, and a picker field that
refuses ids outside the caller's scope (one query, whatever the list's length)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from siyu.console.pickers import PICK_PAGE_SIZE, PickerField
from siyu.org.models import Role, Staff
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.console.conftest import People
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def _json(client: Client, kind: str, **params: str | int) -> dict:
    response = client.get(f"/pick/{kind}/", {"format": "json", **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_staff_picker_pages_through_85_staff_and_search_narrows(client: Client, org: Org) -> None:
    extra = [StaffFactory.create(enterprise=org.enterprise, store=org.store_n1, name=f"导购{i:02d}",
                                 wecom_userid=f"guide{i:02d}", role=Role.STORE_STAFF) for i in range(80)]
    visible = Staff.objects.filter(enterprise=org.enterprise, is_active=True).count()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    first = _json(client, "staff")
    assert first["total"] == visible and len(first["items"]) == PICK_PAGE_SIZE and first["has_next"]
    seen = {item["id"] for item in first["items"]}
    page = 1
    while first["has_next"]:
        page += 1
        first = _json(client, "staff", page=page)
        seen |= {item["id"] for item in first["items"]}
    assert seen == set(Staff.objects.filter(enterprise=org.enterprise, is_active=True).values_list("pk", flat=True))
    found = _json(client, "staff", q="导购07")
    assert [item["id"] for item in found["items"]] == [extra[7].pk]
    assert found["items"][0]["label"] == "导购07 · Beijing 1"
    html = client.get("/pick/staff/", {"q": "guide1"}).content.decode()
    assert html.count('data-pick="') == 10  # guide10 … guide19


def test_a_store_manager_picks_only_from_their_store(client: Client, org: Org) -> None:
    assert org.n1_manager.user is not None
    client.force_login(org.n1_manager.user)
    stores = _json(client, "stores")
    assert [item["id"] for item in stores["items"]] == [org.store_n1.pk]
    staff = {item["id"] for item in _json(client, "staff")["items"]}
    assert org.s1_staff.pk not in staff and org.n1_staff.pk in staff
    assert _json(client, "staff", q=org.s1_staff.name)["total"] == 0


def test_tags_picker_and_unknown_kind(client: Client, org: Org, people: People) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    labels = [item["label"] for item in _json(client, "tags", q="vip")["items"]]
    assert labels == ["Value / VIP"]
    assert client.get("/pick/passwords/").status_code == 404


def test_picker_field_refuses_ids_outside_the_scope(org: Org) -> None:
    manager = scope_for_staff(org.n1_manager)
    field = PickerField(scope=manager, kind="staff")
    assert field.clean([str(org.n1_staff.pk)]) == [org.n1_staff.pk]
    with pytest.raises(ValidationError) as refused:
        field.clean([str(org.n1_staff.pk), str(org.s1_staff.pk)])
    assert str(org.s1_staff.pk) in str(refused.value)
    single = PickerField(scope=manager, kind="stores", multiple=False, required=False)
    assert single.clean("") is None and single.clean(str(org.store_n1.pk)) == org.store_n1.pk
    with pytest.raises(ValidationError):
        single.clean(str(org.store_s1.pk))
    with pytest.raises(ValidationError):
        field.clean(["x"])
