from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from siyu.core.models import AuditEntry
from siyu.customers import services
from siyu.customers.models import Customer, CustomerMerge, Identity
from siyu.customers.services import EventInput
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory, TagFactory, TagGroupFactory


def test_create_with_identities_then_read_the_profile(org: Org, api_as: Callable[[Staff], Api]) -> None:
    api = api_as(org.hq)
    response = api.post(
        "/api/customers",
        {
            "name": "Wang Fang",
            "phone": "+86 139 1234 5678",
            "gender": "female",
            "birthday": "1990-05-17",
            "home_store_id": org.store_n1.pk,
            "created_source": "store",
            "identities": [{"kind": "unionid", "value": "oUNION1"}, {"kind": "oa_openid", "value": "oOA1"}],
        },
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["phone"] == "13912345678"
    assert created["home_store"] == {"id": org.store_n1.pk, "name": "Beijing 1"}
    assert created["tags"] == []

    RelationshipFactory.create(
        customer_id=created["id"], staff=org.n1_staff, state="poster-618", added_at=datetime(2026, 6, 18, tzinfo=UTC)
    )
    tag = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise, name="interest"), name="tea")
    services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[created["id"]], tag_ids=[tag.pk])

    profile = api.get(f"/api/customers/{created['id']}").json()
    assert profile["customer"]["name"] == "Wang Fang"
    assert profile["customer"]["birthday"] == "1990-05-17"
    assert {(i["kind"], i["value"]) for i in profile["identities"]} == {
        ("unionid", "oUNION1"),
        ("oa_openid", "oOA1"),
        ("phone", "13912345678"),
    }
    [rel] = profile["relationships"]
    assert rel["staff"]["id"] == org.n1_staff.pk and rel["staff"]["store_id"] == org.store_n1.pk
    assert rel["state"] == "poster-618" and rel["status"] == "active"
    assert profile["tags"] == [{"id": tag.pk, "name": "tea", "group_id": tag.group_id, "group_name": "interest"}]
    assert AuditEntry.objects.get(action="customer.create", target_id=str(created["id"])).actor == org.hq.user


def test_store_manager_creates_customers_in_their_own_store(org: Org, api_as: Callable[[Staff], Api]) -> None:
    response = api_as(org.n1_manager).post("/api/customers", {"name": "Walk-in"})
    assert response.status_code == 201
    assert Customer.objects.get(pk=response.json()["id"]).home_store_id == org.store_n1.pk
    elsewhere = api_as(org.n1_manager).post("/api/customers", {"name": "X", "home_store_id": org.store_s1.pk})
    assert elsewhere.status_code == 404 and elsewhere.json()["field"] == "home_store_id"
    assert api_as(org.n1_staff).post("/api/customers", {"name": "Y"}).status_code == 403
    region = api_as(org.north_manager)
    no_store = region.post("/api/customers", {"name": "Z"})
    assert (no_store.status_code, no_store.json()["field"]) == (422, "home_store_id")
    in_region = region.post("/api/customers", {"name": "North", "home_store_id": org.store_n2.pk})
    assert in_region.status_code == 201
    assert region.get(f"/api/customers/{in_region.json()['id']}").status_code == 200
    assert not Customer.objects.filter(name__in=["X", "Y", "Z"]).exists()


def test_patch_changes_only_the_fields_sent(org: Org, api_as: Callable[[Staff], Api]) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise, name="Before", region="Shanghai")
    response = api_as(org.hq).patch(f"/api/customers/{customer.pk}", {"name": "After", "phone": "13600000000"})
    assert response.status_code == 200, response.content
    customer.refresh_from_db()
    assert (customer.name, customer.region, customer.phone) == ("After", "Shanghai", "13600000000")
    assert Identity.objects.get(kind="phone", value="13600000000").customer_id == customer.pk


def test_attach_identity(org: Org, api_as: Callable[[Staff], Api]) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise)
    response = api_as(org.hq).post(
        f"/api/customers/{customer.pk}/identities", {"kind": "mp_openid", "value": "oMP77", "account": "wxapp1"}
    )
    assert response.status_code == 201
    assert response.json()["kind"] == "mp_openid"
    assert Identity.objects.get(kind="mp_openid", value="oMP77").customer_id == customer.pk


def test_merge_over_the_api(org: Org, api_as: Callable[[Staff], Api]) -> None:
    survivor, absorbed = (CustomerFactory.create(enterprise=org.enterprise, home_store=org.store_n1) for _ in range(2))
    RelationshipFactory.create(customer=absorbed, staff=org.n1_staff, state="qr1")

    assert (
        api_as(org.n1_staff)
        .post("/api/customers/merge", {"survivor_id": survivor.pk, "absorbed_id": absorbed.pk})
        .status_code
        == 403
    )
    response = api_as(org.n1_manager).post(
        "/api/customers/merge", {"survivor_id": survivor.pk, "absorbed_id": absorbed.pk}
    )
    assert response.status_code == 200, response.content
    assert response.json()["absorbed_id"] == absorbed.pk
    assert response.json()["moved"]["relationships"] == 1
    record = CustomerMerge.objects.get(absorbed_id=absorbed.pk)
    assert record.survivor_id == survivor.pk and record.actor == org.n1_manager.user

    api = api_as(org.hq)
    gone = api.get(f"/api/customers/{absorbed.pk}")
    assert gone.status_code == 404
    assert gone.json()["code"] == "merged" and f"merged into {survivor.pk}" in gone.json()["message"]
    assert absorbed.pk not in {c["id"] for c in api.get("/api/customers", page_size=200).json()["items"]}
    profile = api.get(f"/api/customers/{survivor.pk}").json()
    assert [r["state"] for r in profile["relationships"]] == ["qr1"]
    assert profile["merges"][0]["absorbed_id"] == absorbed.pk
    again = api.post("/api/customers/merge", {"survivor_id": survivor.pk, "absorbed_id": absorbed.pk})
    assert again.status_code == 404 and again.json()["field"] == "absorbed_id"


def test_merge_needs_both_customers_in_scope(org: Org, api_as: Callable[[Staff], Api]) -> None:
    mine = CustomerFactory.create(enterprise=org.enterprise, home_store=org.store_n1)
    south = CustomerFactory.create(enterprise=org.enterprise, home_store=org.store_s1)
    response = api_as(org.north_manager).post("/api/customers/merge", {"survivor_id": mine.pk, "absorbed_id": south.pk})
    assert response.status_code == 404 and response.json()["field"] == "absorbed_id"
    assert Customer.objects.get(pk=south.pk).merged_into_id is None


def test_timeline_is_newest_first_and_paginated(org: Org, api_as: Callable[[Staff], Api]) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise)
    services.ingest_events(
        enterprise_id=org.enterprise.pk,
        batch=[
            EventInput(
                name="page_viewed",
                occurred_at=datetime(2026, 10, day, 12, tzinfo=UTC),
                idempotency_key=f"tl-{day}",
                customer_id=customer.pk,
                properties={"path": f"/day/{day}"},
            )
            for day in (3, 1, 2)
        ],
    )
    api = api_as(org.hq)
    first = api.get(f"/api/customers/{customer.pk}/timeline", page_size=2).json()
    assert first["total"] == 3 and first["pages"] == 2
    assert [e["properties"]["path"] for e in first["items"]] == ["/day/3", "/day/2"]
    second = api.get(f"/api/customers/{customer.pk}/timeline", page_size=2, page=2).json()
    assert [e["idempotency_key"] for e in second["items"]] == ["tl-1"]
    assert second["items"][0]["occurred_at"] in ("2026-10-01T12:00:00Z", "2026-10-01T12:00:00+00:00")
