"""The segments API: create, live count, preview, members, export, snapshot; scope and role rules; bad rules named
by the JSON path of the bad node."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from siyu.audiences.models import Segment, SegmentMembership
from siyu.customers import services as customer_services
from siyu.customers.models import Customer
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

VIEWED = {"version": 1, "root": {"type": "event", "event": {"name": "page_viewed"}, "window": {"last_days": 7}}}


def _view(customer: Customer, key: str) -> None:
    customer_services.append_events(enterprise_id=customer.enterprise_id, batch=[customer_services.EventInput(
        name="page_viewed", occurred_at=timezone.now() - timedelta(hours=1), idempotency_key=key,
        customer_id=customer.pk, properties={"path": "/p"})])


@pytest.fixture
def people(org: Org) -> dict[str, Customer]:
    """n1a and n1b follow n1 staff; s1a follows s1 staff; quiet has not viewed anything."""
    out = {name: CustomerFactory.create(enterprise=org.enterprise, name=name, phone="13800138000")
           for name in ("n1a", "n1b", "s1a", "quiet")}
    RelationshipFactory.create(customer=out["n1a"], staff=org.n1_staff)
    RelationshipFactory.create(customer=out["n1b"], staff=org.n1_staff)
    RelationshipFactory.create(customer=out["s1a"], staff=org.s1_staff)
    RelationshipFactory.create(customer=out["quiet"], staff=org.n1_staff)
    for name in ("n1a", "n1b", "s1a"):
        _view(out[name], f"v-{name}")
    return out


def test_preview_counts_the_callers_customers(org: Org, people: dict[str, Customer], api_as: Any) -> None:
    hq = api_as(org.hq).post("/api/audiences/segments/preview", {"rule": VIEWED, "sample": 5})
    assert hq.status_code == 200, hq.content
    assert hq.json()["count"] == 3
    assert {m["name"] for m in hq.json()["sample"]} == {"n1a", "n1b", "s1a"}
    assert hq.json()["fresh_as_of"] is not None
    staff = api_as(org.n1_staff).post("/api/audiences/segments/preview", {"rule": VIEWED, "sample": 5}).json()
    assert staff["count"] == 2
    assert {m["phone"] for m in staff["sample"]} == {"138****8000"}  # staff see masked phones


def test_a_bad_rule_is_rejected_with_the_path_of_the_bad_node(org: Org, api_as: Any) -> None:
    rule = {"version": 1, "root": {"type": "group", "conditions": [
        {"type": "gender", "values": ["female"]},
        {"type": "event", "event": {"name": "page_viewed"}, "window": {"last_days": 0}}]}}
    response = api_as(org.hq).post("/api/audiences/segments", {"name": "坏规则", "rule": rule})
    assert response.status_code == 422
    assert response.json()["field"] == "rule.root.conditions[1].window.last_days"
    unknown = {"version": 1, "root": {"type": "tags", "tag_ids": [999999]}}
    response = api_as(org.hq).post("/api/audiences/segments/preview", {"rule": unknown})
    assert response.status_code == 422
    assert response.json()["field"] == "rule.root.tag_ids"
    assert Segment.objects.count() == 0


def test_create_then_count_members_and_export(org: Org, people: dict[str, Customer], api_as: Any) -> None:
    hq = api_as(org.hq)
    created = hq.post("/api/audiences/segments", {"name": "近7天浏览", "rule": VIEWED})
    assert created.status_code == 201, created.content
    segment_id = created.json()["id"]
    detail = hq.get(f"/api/audiences/segments/{segment_id}").json()
    assert detail["count"] == 3 and detail["can_edit"] is True
    page = hq.get(f"/api/audiences/segments/{segment_id}/members", page_size=2).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["pages"] == 2
    assert page["items"][0]["id"] > page["items"][1]["id"]  # newest first

    text = b"".join(hq.get(f"/api/audiences/segments/{segment_id}/export").streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert sorted(r[1] for r in rows[1:]) == ["n1a", "n1b", "s1a"]
    xlsx = hq.get(f"/api/audiences/segments/{segment_id}/export", format="xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sorted(row[1] for row in sheet.iter_rows(min_row=2, values_only=True)) == ["n1a", "n1b", "s1a"]

    staff = api_as(org.n1_staff)
    assert staff.get(f"/api/audiences/segments/{segment_id}").json()["count"] == 2  # only their customers
    assert staff.get(f"/api/audiences/segments/{segment_id}/export").status_code == 403


def test_a_static_segment_freezes_its_members(org: Org, people: dict[str, Customer], api_as: Any) -> None:
    hq = api_as(org.hq)
    created = hq.post("/api/audiences/segments", {"name": "名单", "kind": "static", "rule": VIEWED}).json()
    frozen = set(SegmentMembership.objects.filter(segment_id=created["id"]).values_list("customer_id", flat=True))
    assert frozen == {people[n].pk for n in ("n1a", "n1b", "s1a")}
    _view(people["quiet"], "v-quiet")
    assert hq.get(f"/api/audiences/segments/{created['id']}").json()["count"] == 3  # frozen
    again = hq.post(f"/api/audiences/segments/{created['id']}/snapshot", {})
    assert again.json() == {"members": 4, "moved": 1}


def test_roles_and_scopes(org: Org, people: dict[str, Customer], api_as: Any) -> None:
    store = api_as(org.n1_manager).post("/api/audiences/segments", {"name": "一店", "rule": VIEWED})
    assert store.status_code == 201 and store.json()["store_id"] == org.store_n1.pk
    hq_segment = api_as(org.hq).post("/api/audiences/segments", {"name": "总部", "rule": VIEWED}).json()
    south = api_as(org.hq).post("/api/audiences/segments", {"name": "南区", "rule": VIEWED,
                                                             "region_id": org.south.pk}).json()
    assert api_as(org.n1_staff).post("/api/audiences/segments", {"name": "x", "rule": VIEWED}).status_code == 403
    manager = api_as(org.n1_manager)
    assert manager.patch(f"/api/audiences/segments/{hq_segment['id']}", {"name": "改"}).status_code == 403
    assert manager.get(f"/api/audiences/segments/{south['id']}").status_code == 404  # another region's
    assert manager.patch(f"/api/audiences/segments/{store.json()['id']}", {"name": "一店近7天"}).status_code == 200
    names = {s["name"] for s in api_as(org.s1_staff).get("/api/audiences/segments").json()}
    assert names == {"总部", "南区"}
    # the store's segment counts only the store's customers, even for HQ
    assert api_as(org.hq).get(f"/api/audiences/segments/{store.json()['id']}").json()["count"] == 2


def test_unknown_segment_is_404_for_another_enterprise(org: Org, people: dict[str, Customer], api_as: Any) -> None:
    from tests.factories import EnterpriseFactory, StaffFactory

    segment = api_as(org.hq).post("/api/audiences/segments", {"name": "总部", "rule": VIEWED}).json()
    other = StaffFactory.create(enterprise=EnterpriseFactory.create(code="elsewhere"), role="hq_admin")
    assert api_as(other).get(f"/api/audiences/segments/{segment['id']}").status_code == 404


