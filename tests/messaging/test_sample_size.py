"""Before launch, a campaign with variants or a holdout shows the sample each arm needs for its declared baseline and
lift, and warns when the plan's arms are smaller. The per-arm figures are computed by hand here:
n = (z(0.975)·sqrt(2·p̄·(1-p̄)) + z(0.8)·sqrt(p1(1-p1) + p2(1-p2)))² / (p2-p1)², p̄ = (p1+p2)/2:
baseline 5 %, lift 1 point: 8,157.7 -> 8,158; baseline 50 %, lift 45 points: 14.2 -> 15."""

from __future__ import annotations

from typing import Any

from django.test import Client

from siyu.messaging.models import Delivery
from tests.conftest import Org
from tests.messaging.helpers import make_customer


def _hq(org: Org) -> Client:
    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    return client


def _plan(client: Client, ids: list[int], **extra: Any) -> dict[str, Any]:
    body = {"name": "测试", "audience_kind": "list", "customer_ids": ids, "channels": ["sms"],
            "content": {"sms": "{name}您好"}, "sms_sign": "品牌", **extra}
    made = client.post("/api/campaigns", body, content_type="application/json")
    assert made.status_code == 201, made.content
    planned = client.post(f"/api/campaigns/{made.json()['id']}/plan")
    assert planned.status_code == 200, planned.content
    return dict(planned.json())


def test_plan_shows_the_needed_sample_and_warns_on_small_arms(org: Org) -> None:
    ids = [make_customer(org, phone=True, sms_consent=True).pk for _ in range(8)]
    client = _hq(org)
    plan = _plan(client, ids, variants=[{"name": "A"}, {"name": "B"}], holdout_pct=20)
    check = plan["sample_size"]
    assert (check["baseline"], check["mde"], check["per_arm"]) == (0.05, 0.01, 8158)
    assert set(check["arms"]) == {"A", "B", "holdout"}
    rows = Delivery.objects.filter(campaign_id=plan["id"])
    assert check["arms"]["holdout"] == rows.filter(holdout=True).count()
    assert check["arms"]["A"] == rows.filter(variant="A").count()
    assert sum(check["arms"].values()) == 8
    assert sorted(check["short"]) == ["A", "B", "holdout"]
    page = client.get(f"/campaigns/{plan['id']}/").content.decode()
    assert 'id="sample-size"' in page and 'id="sample-warning"' in page and "8158" in page


def test_a_large_declared_lift_needs_few_and_no_test_shows_nothing(org: Org) -> None:
    ids = [make_customer(org, phone=True, sms_consent=True).pk for _ in range(40)]
    client = _hq(org)
    plan = _plan(client, ids, variants=[{"name": "A"}, {"name": "B"}], baseline_bp=5000, mde_bp=4500)
    check = plan["sample_size"]
    assert check["per_arm"] == 15
    assert check["arms"]["A"] + check["arms"]["B"] == 40
    assert check["short"] == [name for name in ("A", "B") if check["arms"][name] < 15]
    assert _plan(client, ids[:3])["sample_size"] is None  # one variant, no holdout: nothing to size


def test_an_impossible_design_is_refused_with_the_field(org: Org) -> None:
    client = _hq(org)
    body = {"name": "x", "audience_kind": "list", "customer_ids": [1], "channels": ["sms"],
            "content": {"sms": "x"}, "baseline_bp": 9000, "mde_bp": 1500}
    refused = client.post("/api/campaigns", body, content_type="application/json")
    assert refused.status_code == 422 and refused.json()["field"] == "mde_bp"
