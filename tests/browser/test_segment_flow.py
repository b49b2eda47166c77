"""Build a segment in the console with a behaviour condition and an order condition, watch the live count, save it,
post an event through the API, and see the customer join within seconds (the analytics loop runs beside the live
server, as `siyu analytics` does beside `siyu serve`)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from siyu.analytics.engine import CopyEngine, set_engine
from siyu.analytics.engine import capture as capture_triggers
from siyu.analytics.engine.copy import ColumnarCopy
from siyu.analytics.engine.loop import run
from siyu.audiences.models import Segment, SegmentMembership
from siyu.customers import services
from siyu.customers.models import Event
from siyu.orders.models import Order, OrderLine
from siyu.org.scope import Scope
from siyu.org.services import create_api_token
from tests.catalog.helpers import product, sku
from tests.conftest import Org

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def analytics(live_server: Any) -> Iterator[ColumnarCopy]:
    copy = ColumnarCopy(None, threads=1)
    copy.build()
    set_engine(CopyEngine(copy))
    stop = threading.Event()
    loop = threading.Thread(target=run, args=(copy,), kwargs={"interval": 0.5, "stop": stop,
                                                                           "close_connections": False}, daemon=True)
    loop.start()
    yield copy
    stop.set()
    loop.join(timeout=10)
    set_engine(None)
    capture_triggers.uninstall(copy._specs)
    copy.close()


def sign_in(page: Page, base: str, then: str) -> None:
    page.goto(f"{base}/login/?next={then}")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}")


def test_build_a_segment_and_see_a_member_join(browser: Any, live_server: Any, org: Org, tmp_path: Path,
                                               analytics: ColumnarCopy) -> None:
    ent = org.enterprise.pk
    now = timezone.now()
    pan = product(Scope.hq(ent), "不粘锅", sku("PAN-28", 29900))
    buyer = services.create_customer(enterprise_id=ent, name="买过锅的", created_source="wecom", created_at=now)
    browser_only = services.create_customer(enterprise_id=ent, name="只逛不买", created_source="wecom", created_at=now)
    order = Order.objects.create(enterprise_id=ent, customer=buyer, order_no="B0000001", status="completed",
                                 amount_fen=29900, paid_fen=29900, created_at=now, paid_at=now)
    OrderLine.objects.create(order=order, product_id=pan.pk, category_id=pan.category_id, name="不粘锅", quantity=1)
    services.ingest_events(enterprise_id=ent, batch=[services.EventInput(
        name="page_viewed", occurred_at=now, idempotency_key="b-browse-1", customer_id=browser_only.pk,
        properties={"path": "/pages/index"})])

    base = live_server.url
    context = browser.new_context(viewport={"width": 375, "height": 812})
    page = context.new_page()
    sign_in(page, base, "/audiences/new/")
    page.fill("#id_name", "看过又买过锅")
    page.select_option("#rule-builder .rb-add", "event")
    page.select_option('#rule-builder .rb-leaf[data-type="event"] .rb-event select', "page_viewed")
    page.select_option("#rule-builder .rb-add", "purchased")
    page.select_option('#rule-builder .rb-leaf[data-type="purchased"] select[multiple] >> nth=0', str(pan.pk))
    expect(page.locator("#live-count")).to_have_attribute("data-count", "0")  # nobody did both yet
    page.screenshot(path=str(tmp_path / "builder-375.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 380, f"the builder overflows a phone screen ({width}px)"
    page.click("#save-segment")
    segment = Segment.objects.get(name="看过又买过锅")
    page.wait_for_url(f"{base}/audiences/{segment.pk}/")
    expect(page.locator("#member-total")).to_have_attribute("data-total", "0")
    for _ in range(100):  # the analytics loop builds a new segment's membership within a second or so
        segment.refresh_from_db()
        if segment.built_revision == segment.revision:
            break
        time.sleep(0.1)
    assert segment.built_revision == segment.revision

    _token, secret = create_api_token(staff=org.hq, name="browser test")
    body = json.dumps({"events": [{"name": "page_viewed", "occurred_at": timezone.now().isoformat(),
                                   "idempotency_key": "b-browse-2", "customer_id": buyer.pk,
                                   "properties": {"path": "/pages/pan"}}]}).encode()
    request = urllib.request.Request(f"{base}/api/events/batch", data=body, method="POST", headers={
        "Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the live server
        assert response.status == 200

    expect(page.locator("#member-total")).to_have_attribute("data-total", "1", timeout=10_000)
    expect(page.locator("#member-table")).to_contain_text("买过锅的")
    member = SegmentMembership.objects.get(segment=segment, left_at__isnull=True)
    assert member.customer_id == buyer.pk
    assert Event.objects.filter(name="segment_entered", customer=buyer, properties__segment_id=segment.pk).exists()
    context.close()
