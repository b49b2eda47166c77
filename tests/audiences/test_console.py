"""The console's segment pages: builder with live count, save, detail with members, export; role gates."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from siyu.audiences.models import Segment
from siyu.customers import services as customer_services
from tests.conftest import Org
from tests.factories import CustomerFactory, RelationshipFactory

pytestmark = pytest.mark.django_db

RULE = {"version": 1, "root": {"type": "group", "op": "and", "conditions": [
    {"type": "event", "event": {"name": "page_viewed"}, "window": {"last_days": 7}}]}}


def _client(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


@pytest.fixture
def viewers(org: Org) -> list[int]:
    ids = []
    for i in range(3):
        customer = CustomerFactory.create(enterprise=org.enterprise, name=f"浏览者{i}")
        RelationshipFactory.create(customer=customer, staff=org.n1_staff if i < 2 else org.s1_staff)
        customer_services.append_events(enterprise_id=org.enterprise.pk, batch=[customer_services.EventInput(
            name="page_viewed", occurred_at=timezone.now() - timedelta(hours=2), idempotency_key=f"cv{i}",
            customer_id=customer.pk, properties={"path": "/"})])
        ids.append(customer.pk)
    return ids


def test_builder_preview_save_and_detail(org: Org, viewers: list[int]) -> None:
    client = _client(org.hq)
    page = client.get("/audiences/new/")
    assert page.status_code == 200 and b'id="rule-builder"' in page.content and b"builder-options" in page.content
    preview = client.post("/audiences/preview/", {"rule": json.dumps(RULE)}, headers={"HX-Request": "true"})
    assert b'data-count="3"' in preview.content
    bad = client.post("/audiences/preview/", {"rule": json.dumps({"version": 1, "root": {"type": "group",
                      "conditions": [{"type": "age", "min": 50, "max": 20}]}})})
    assert b"$.root.conditions[0]" in bad.content
    form = {"name": "近7天浏览", "kind": "dynamic", "owner": "", "rule": json.dumps(RULE)}
    saved = client.post("/audiences/new/", form)
    segment = Segment.objects.get(name="近7天浏览")
    assert saved.status_code == 302 and saved["Location"] == f"/audiences/{segment.pk}/"
    detail = client.get(f"/audiences/{segment.pk}/")
    assert b'data-total="3"' in detail.content
    assert "浏览者0" in detail.content.decode()
    exported: Any = client.get(f"/audiences/{segment.pk}/export.csv")
    csv = b"".join(exported.streaming_content).decode("utf-8-sig")
    assert csv.count("浏览者") == 3
    staff_detail = _client(org.n1_staff).get(f"/audiences/{segment.pk}/")
    assert b'data-total="2"' in staff_detail.content  # their own customers only


def test_a_bad_rule_on_save_shows_the_path_and_keeps_the_form(org: Org) -> None:
    client = _client(org.hq)
    rule = {"version": 1, "root": {"type": "group", "conditions": [{"type": "tags", "tag_ids": [987654]}]}}
    response = client.post("/audiences/new/", {"name": "坏", "kind": "dynamic", "owner": "", "rule": json.dumps(rule)})
    assert response.status_code == 422
    assert b"$.root.conditions[0].tag_ids" in response.content
    assert not Segment.objects.exists()


def test_store_staff_read_but_do_not_build(org: Org) -> None:
    client = _client(org.n1_staff)
    assert client.get("/audiences/").status_code == 200
    assert client.get("/audiences/new/").status_code == 403


def test_rfm_page_shows_distribution_super_users_and_rules(org: Org, viewers: list[int], copy: Any) -> None:
    from siyu.audiences import rfm
    from tests.audiences.data import Dataset as _Dataset
    from tests.audiences.data import Written, add_order

    written = Written(_Dataset(), {"v0": viewers[0]})
    add_order(written, org.enterprise.pk, "v0", status="completed", paid_at=timezone.now() - timedelta(days=3),
              paid_fen=12345)
    copy.build()
    from siyu.analytics.engine import CopyEngine, set_engine

    rfm.run_rfm(copy, org.enterprise.pk)
    copy.refresh()
    set_engine(CopyEngine(copy))
    client = _client(org.hq)
    page = client.get("/audiences/rfm/").content.decode()
    assert 'id="super-users"' in page and "浏览者0" in page and "¥123.45" in page
    assert 'id="rfm-data"' in page
    profile = client.get(f"/customers/{viewers[0]}/").content.decode()
    assert 'id="customer-scores"' in profile and "¥123.45" in profile  # the profile shows RFM and lifecycle
    saved = client.post("/audiences/rfm/", {"action": "rules", "active_days": "45", "silent_days": "60",
                                            "at_risk_days": "120", "new_days": "30", "rfm_window_days": "365"})
    assert saved.status_code == 302
    bad = client.post("/audiences/rfm/", {"action": "rules", "active_days": "90", "silent_days": "60"})
    assert bad.status_code == 422
    assert _client(org.n1_manager).post("/audiences/rfm/", {"action": "run"}).status_code == 403


def test_tag_rules_page(org: Org) -> None:
    from tests.factories import TagFactory, TagGroupFactory

    tag = TagFactory.create(group=TagGroupFactory.create(enterprise=org.enterprise, name="规则"), name="签到达人")
    client = _client(org.hq)
    made = client.post("/audiences/tag-rules/", {"tag": tag.pk, "kind": "event", "event_name": "check_in",
                                                 "expire_days": "7"})
    assert made.status_code == 302
    assert "签到达人" in client.get("/audiences/tag-rules/").content.decode()
    again = client.post("/audiences/tag-rules/", {"tag": tag.pk, "kind": "event", "event_name": "check_in"})
    assert again.status_code == 422


def test_pages_speak_chinese_and_english(org: Org) -> None:
    client = _client(org.hq)
    chinese = client.get("/audiences/").content.decode()
    assert "人群包" in chinese and "新建人群包" in chinese and "RFM 与生命周期" in chinese
    import re

    builder = client.get("/audiences/new/").content.decode()
    found = re.search(r'<script id="builder-options" type="application/json">(.*?)</script>', builder, re.S)
    assert found is not None
    options = json.loads(found.group(1))
    assert options["types"]["event"] == "做过某行为"  # the builder's words come from the catalog too
    assert {"value": "important_value", "label": "重要价值"} in options["cells"]
    client.cookies["django_language"] = "en"
    english = client.get("/audiences/").content.decode()
    assert "New segment" in english and "人群包" not in english
