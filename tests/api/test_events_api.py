from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils import timezone

from siyu.customers.models import Customer, Event
from siyu.org.models import Staff
from tests.api.conftest import Api
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory


def batch(customer: Customer, n: int, prefix: str = "e") -> dict[str, Any]:
    when = (timezone.now() - timedelta(hours=2)).isoformat()
    return {
        "events": [
            {
                "name": "page_viewed",
                "occurred_at": when,
                "idempotency_key": f"{prefix}-{i}",
                "customer_id": customer.pk,
                "channel": "miniprogram",
                "campaign": "double11",
                "properties": {"path": f"/pages/item/{i}"},
            }
            for i in range(n)
        ]
    }


def test_same_batch_twice(org: Org, api_as: Callable[[Staff], Api]) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise)
    api = api_as(org.hq)
    assert api.post("/api/events/batch", batch(customer, 4)).json() == {"created": 4, "duplicates": 0}
    rows = Event.objects.count()
    again = api.post("/api/events/batch", batch(customer, 4))
    assert again.status_code == 200
    assert again.json() == {"created": 0, "duplicates": 4}
    assert Event.objects.count() == rows
    stored = Event.objects.get(idempotency_key="e-2")
    assert (stored.channel, stored.campaign, stored.properties) == (
        "miniprogram",
        "double11",
        {"path": "/pages/item/2", "title": ""},
    )


def test_malformed_item_is_named_and_nothing_is_written(org: Org, api_as: Callable[[Staff], Api]) -> None:
    customer = CustomerFactory.create(enterprise=org.enterprise)
    api = api_as(org.hq)
    body = batch(customer, 5)
    body["events"][3]["properties"] = {"title": "missing the path"}
    response = api.post("/api/events/batch", body)
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["index"]) == ("events[3].properties.path", 3)

    body = batch(customer, 5)
    body["events"][3]["occurred_at"] = "yesterday-ish"
    response = api.post("/api/events/batch", body)
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["index"]) == ("events[3].occurred_at", 3)

    body = batch(customer, 5)
    body["events"][1]["customer_id"] = 987654
    response = api.post("/api/events/batch", body)
    assert response.status_code == 404
    assert (response.json()["field"], response.json()["index"]) == ("events[1].customer_id", 1)
    assert not Event.objects.filter(name="page_viewed").exists()


def test_identity_addressed_events_and_naive_times(org: Org, api_as: Callable[[Staff], Api]) -> None:
    api = api_as(org.hq)
    created = api.post("/api/customers", {"identities": [{"kind": "oa_openid", "value": "oFOLLOW"}]}).json()
    event = {
        "name": "oa_followed",
        "occurred_at": "2026-11-01T10:00:00+08:00",
        "idempotency_key": "follow-1",
        "identity": {"kind": "oa_openid", "value": "oFOLLOW"},
        "properties": {"scene": "poster"},
    }
    assert api.post("/api/events/batch", {"events": [event]}).json() == {"created": 1, "duplicates": 0}
    assert Event.objects.get(idempotency_key="follow-1").customer_id == created["id"]
    naive = {**event, "idempotency_key": "follow-2", "occurred_at": "2026-11-01T10:00:00"}
    response = api.post("/api/events/batch", {"events": [naive]})
    assert response.status_code == 422 and response.json()["field"] == "events[0].occurred_at"


def test_store_staff_may_only_send_events_for_their_customers(org: Org, api_as: Callable[[Staff], Api]) -> None:
    mine = CustomerFactory.create(enterprise=org.enterprise)
    RelationshipFactory.create(customer=mine, staff=org.s1_staff)
    theirs = CustomerFactory.create(enterprise=org.enterprise)
    api = api_as(org.s1_staff)
    assert api.post("/api/events/batch", batch(mine, 1, "m")).json() == {"created": 1, "duplicates": 0}
    response = api.post("/api/events/batch", batch(theirs, 1, "t"))
    assert response.status_code == 404 and response.json()["field"] == "events[0].customer_id"
    assert not Event.objects.filter(idempotency_key="t-0").exists()


def test_event_types_are_listed_with_their_schemas(org: Org, api_as: Callable[[Staff], Api]) -> None:
    response = api_as(org.n1_staff).get("/api/event-types")
    assert response.status_code == 200
    types = {t["name"]: t["properties_schema"] for t in response.json()}
    assert {"customer_created", "page_viewed", "tag_added", "wecom_contact_added"} <= set(types)
    assert types["page_viewed"]["required"] == ["path"]
