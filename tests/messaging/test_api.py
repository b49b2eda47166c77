"""The campaigns API: HQ creates, plans, launches and reads results; store staff are refused; another enterprise's
campaign is a 404; bad input is a 422 with the field; a double launch answers the launched campaign."""

from __future__ import annotations

from typing import Any

from django.test import Client

from siyu.messaging.models import Campaign, Delivery
from siyu.org.models import Staff
from tests.conftest import Org
from tests.factories import EnterpriseFactory
from tests.messaging.helpers import make_customer


def _client(staff: Staff) -> Client:
    client = Client()
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def _body(ids: list[int], **overrides: Any) -> dict[str, Any]:
    return {"name": "双旦", "audience_kind": "list", "customer_ids": ids, "channels": ["sms"],
            "content": {"sms": "{name}您好"}, "sms_sign": "品牌", **overrides}


def test_hq_plans_launches_and_reads_results(org: Org) -> None:
    a = make_customer(org, phone=True, sms_consent=True)
    b = make_customer(org)
    hq = _client(org.hq)
    made = hq.post("/api/campaigns", _body([a.pk, b.pk]), content_type="application/json")
    assert made.status_code == 201, made.content
    cid = made.json()["id"]
    planned = hq.post(f"/api/campaigns/{cid}/plan")
    assert planned.status_code == 200
    assert planned.json()["plan"]["channels"] == {"sms": 1}
    assert planned.json()["plan"]["excluded"] == {"no_channel": 1}
    for _ in range(2):  # a double submit
        launched = hq.post(f"/api/campaigns/{cid}/launch")
        assert launched.status_code == 200 and launched.json()["status"] == "sending"
    listed = hq.get("/api/campaigns")
    assert listed.json()["total"] == 1 and listed.json()["items"][0]["id"] == cid
    results = hq.get(f"/api/campaigns/{cid}/results").json()
    assert results["progress"]["planned"] == 1 and results["progress"]["excluded"] == 1
    assert results["variants"] == []  # nothing sent yet (no worker here), and no holdout
    cancelled = hq.post(f"/api/campaigns/{cid}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    assert Delivery.objects.filter(campaign_id=cid, status="cancelled").count() == 1


def test_refusals(org: Org) -> None:
    a = make_customer(org, phone=True, sms_consent=True)
    staff = _client(org.n1_staff)
    assert staff.post("/api/campaigns", _body([a.pk]), content_type="application/json").status_code == 403
    hq = _client(org.hq)
    bad = hq.post("/api/campaigns", _body([a.pk], content={}), content_type="application/json")
    assert bad.status_code == 422 and bad.json()["field"] == "content.sms"
    unknown = hq.post("/api/campaigns", _body([a.pk], channels=["fax"]), content_type="application/json")
    assert unknown.status_code == 422
    elsewhere = EnterpriseFactory.create(code="other", wecom_corp_id="wwother")
    other = Campaign.objects.create(enterprise=elsewhere, name="x", audience_kind="list", channels=["sms"],
                                    content={"sms": "x"})
    got = hq.get(f"/api/campaigns/{other.pk}")
    assert got.status_code == 404, got.content
    assert hq.post(f"/api/campaigns/{other.pk}/plan").status_code == 404
    assert not Campaign.objects.filter(enterprise=org.enterprise).exists()
    draft = hq.post("/api/campaigns", _body([a.pk]), content_type="application/json").json()["id"]
    assert hq.post(f"/api/campaigns/{draft}/launch").status_code == 409
