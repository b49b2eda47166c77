"""Open each dashboard in Chromium, change the date range and the scope (a store), and see the charts drawn again
with the new figures; screenshots (desktop and 375 px) are saved under var/screenshots/dashboards/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from siyu.analytics.engine import CopyEngine, set_engine
from siyu.analytics.engine.copy import ColumnarCopy
from tests.analytics import dashboard_data as data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "dashboards"


@pytest.fixture
def brand(live_server: Any) -> Iterator[data.Brand]:
    made = data.brand()
    copy = ColumnarCopy(None, capture_changes=False, threads=1)
    copy.build(bulk=False)
    set_engine(CopyEngine(copy))
    yield made
    set_engine(None)
    copy.close()


def _drawn(page: Page, times: int) -> None:
    page.wait_for_function(f"Number(document.body.getAttribute('data-dash-drawn') || 0) >= {times}")


def _kpi(page: Page, key: str) -> Any:
    return page.locator(f"#dash-figures .kpi[data-key={key}] .v")


def test_dashboards_redraw_on_range_and_scope(browser: Any, live_server: Any, brand: data.Brand) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert brand.hq.user is not None
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server.url}/login/?next=/analytics/")
    page.fill("input[name=username]", brand.hq.user.username)
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/analytics/overview/?start=2026-03-01&end=2026-03-31")
    _drawn(page, 1)
    expect(page.locator("#chart-pool canvas")).to_have_count(1)
    expect(_kpi(page, "pool")).to_have_text("4")  # c1..c4 at the end of March
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)
    page.fill("#f-start", "2026-03-04")  # a shorter range: c2's first order of 03-03 drops out
    page.locator("#f-start").dispatch_event("change")
    _drawn(page, 2)
    expect(_kpi(page, "orders")).to_have_text("3")
    page.select_option("#f-store", str(brand.s2.pk))  # scope: store S2 holds c3 only
    _drawn(page, 3)
    expect(_kpi(page, "pool")).to_have_text("1")
    assert "store=" in page.url
    page.screenshot(path=str(SHOTS / "overview-store.png"), full_page=True)
    for name, chart in (("conversion", "#chart-aarrr canvas"), ("retention", "#chart-activity canvas")):
        page.goto(f"{live_server.url}/analytics/{name}/?start=2026-03-01&end=2026-03-31")
        _drawn(page, 1)
        expect(page.locator(chart)).to_have_count(1)
        page.fill("#f-end", "2026-03-20")
        page.locator("#f-end").dispatch_event("change")
        _drawn(page, 2)
        expect(page.locator(chart)).to_have_count(1)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    phone = browser.new_context(viewport={"width": 375, "height": 800}, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(f"{live_server.url}/analytics/overview/?start=2026-03-01&end=2026-03-31")
    _drawn(small, 1)
    assert small.evaluate("document.documentElement.scrollWidth") <= 375
    small.screenshot(path=str(SHOTS / "overview-375.png"), full_page=True)
    phone.close()
    context.close()
