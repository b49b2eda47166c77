"""RFM, lifecycle and super users over the API: a run requested, the distribution over the caller's customers, one
customer's scores, the super-user list and the lifecycle rules."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from siyu.analytics.engine.copy import ColumnarCopy
from siyu.audiences import rfm
from siyu.audiences.models import RfmRun
from siyu.customers.models import Customer
from tests.audiences.data import add_order, write_people
from tests.conftest import Org
from tests.factories import RelationshipFactory

pytestmark = pytest.mark.django_db


def test_rfm_over_the_api(org: Org, copy: ColumnarCopy, api_as: Any) -> None:
    now = timezone.now()
    w = write_people(org.enterprise.pk, {"big": {"created_at": now - timedelta(days=300)},
                                         "small": {"created_at": now - timedelta(days=300)},
                                         "none": {"created_at": now - timedelta(days=3)}})
    add_order(w, org.enterprise.pk, "big", status="completed", paid_at=now - timedelta(days=2), paid_fen=90000)
    add_order(w, org.enterprise.pk, "big", status="completed", paid_at=now - timedelta(days=9), paid_fen=90000)
    add_order(w, org.enterprise.pk, "small", status="completed", paid_at=now - timedelta(days=200), paid_fen=1000)
    RelationshipFactory.create(customer=Customer.objects.get(pk=w.ids["small"]), staff=org.n1_staff)

    hq = api_as(org.hq)
    requested = hq.post("/api/audiences/rfm/runs", {})
    assert requested.status_code == 202 and requested.json()["status"] == "requested"
    assert api_as(org.n1_manager).post("/api/audiences/rfm/runs", {}).status_code == 403
    copy.build()
    rfm.run_rfm(copy, org.enterprise.pk, run=RfmRun.objects.get(pk=requested.json()["id"]))

    overview = hq.get("/api/audiences/rfm").json()
    assert overview["run"]["status"] == "done" and overview["run"]["buyers"] == 2
    assert sum(overview["stages"].values()) == 3 and overview["stages"]["new"] == 1
    staff = api_as(org.n1_staff).get("/api/audiences/rfm").json()
    assert sum(staff["stages"].values()) == 1  # only the customer who follows them

    big = hq.get(f"/api/audiences/customers/{w.ids['big']}/scores").json()
    assert (big["frequency"], big["monetary_fen"], big["stage"]) == (2, 180000, "active")
    top = hq.get("/api/audiences/super-users", limit=2).json()
    assert top[0]["customer_id"] == w.ids["big"] and top[0]["explanation"]["orders"] == 2

    def put(body: dict[str, Any]) -> Any:
        return hq.client.put("/api/audiences/lifecycle/rules", json.dumps(body), content_type="application/json",
                             headers=hq.headers)

    assert put({"active_days": 90, "silent_days": 60}).status_code == 422
    changed = put({"active_days": 20, "super_weights": {"spend": 1.0}})
    assert changed.status_code == 200 and changed.json()["active_days"] == 20
    assert changed.json()["super_weights"]["spend"] == 1.0
