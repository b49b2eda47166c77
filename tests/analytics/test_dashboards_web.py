"""The dashboards through the API and the console: same figures and scope as the queries, 4xx for bad input, Excel
export, the htmx partial. Uses the hand-made dataset of dashboard_data (figures worked out in test_dashboards)."""

from __future__ import annotations

from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from django.test import Client
from openpyxl import load_workbook

from siyu.analytics.dashboards.framework import clear_cache
from siyu.analytics.engine import set_engine
from siyu.org.models import Staff
from tests.analytics import dashboard_data as data
from tests.api.conftest import Api
from tests.api.conftest import api_as as api_as  # noqa: F401  (the API test client fixture)

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture(autouse=True)
def _local(settings: Any) -> Iterator[None]:
    settings.SIYU_ANALYTICS = "local"
    settings.SIYU_ANALYTICS_LOCAL_TTL = 0
    settings.SIYU_DASHBOARD_CACHE_TTL = 0
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    set_engine(None)
    clear_cache()
    yield
    set_engine(None)


@pytest.fixture
def brand(db: None) -> data.Brand:
    return data.brand()


def _figures(body: dict[str, Any]) -> dict[str, Any]:
    return {f["key"]: f["value"] for f in body["figures"]}


def test_api_answers_in_the_callers_scope(brand: data.Brand, api_as: Any) -> None:
    hq: Api = api_as(brand.hq)
    body = hq.get("/api/analytics/dashboards/overview", **MARCH).json()
    assert (_figures(body)["gmv"], _figures(body)["pool"]) == (41000, 4)
    assert body["fresh_as_of"] and body["previous"] == {"start": "2026-01-29", "end": "2026-02-28"}
    staff = api_as(brand.staff_a).get("/api/analytics/dashboards/overview", **MARCH).json()
    assert (_figures(staff)["gmv"], _figures(staff)["pool"]) == (26000, 2)  # c2 and c4 only, not HQ's figures
    listed = hq.get("/api/analytics/dashboards").json()
    assert listed[:6] == ["overview", "conversion", "retention", "products", "users", "traffic"]


def test_api_bad_input_and_other_enterprise(brand: data.Brand, api_as: Any) -> None:
    hq: Api = api_as(brand.hq)
    bad = hq.get("/api/analytics/dashboards/overview", start="yesterday")
    assert bad.status_code == 422 and bad.json()["field"] == "start"
    assert hq.get("/api/analytics/dashboards/nope").status_code == 404
    stranger = Staff.objects.create(enterprise=brand.other, name="x", wecom_userid="x", role="hq_admin")
    other: Api = api_as(stranger)
    assert other.get("/api/analytics/dashboards/overview", store=str(brand.s1.pk), **MARCH).status_code == 404
    mine = other.get("/api/analytics/dashboards/overview", **MARCH).json()
    assert _figures(mine)["gmv"] == 123400  # its own order only


def _console(staff: Staff) -> Client:
    client = Client()
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def test_console_pages_partial_and_export(brand: data.Brand) -> None:
    client = _console(brand.manager)
    for name in ("overview", "conversion", "retention", "products", "users", "traffic", "supervision", "campaigns"):
        page = client.get(f"/analytics/{name}/", MARCH)
        assert page.status_code == 200
        assert b'id="dash-data"' in page.content and b"echarts.min.js" in page.content
    partial = client.get("/analytics/overview/", MARCH, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and b"<html" not in partial.content and b'id="dash-figures"' in partial.content
    bad = client.get("/analytics/overview/", {"start": "2026-04-01", "end": "2026-03-01"})
    assert bad.status_code == 422 and b'id="dash-error"' in bad.content
    exported: Any = client.get("/analytics/overview/export.xlsx", MARCH)
    assert exported.status_code == 200
    book = load_workbook(BytesIO(exported.content))
    sales = book.worksheets[1]
    rows = {r[0]: r for r in sales.iter_rows(min_row=2, values_only=True)}
    assert rows["2026-03-03"][1:3] == (1, 200)  # one order, ¥200.00 (20000 fen) in the manager's store
    assert client.get("/analytics/nope/").status_code == 404  # no such page


def test_console_costs_page_records_for_hq_only(brand: data.Brand) -> None:
    from siyu.analytics.models import AcquisitionCost

    hq = _console(brand.hq)
    bad = hq.post("/analytics/costs/", {"day": "2026-03-01", "channel": "wecom", "amount": "12.345"})
    assert bad.status_code == 422 and b'id="cost-error"' in bad.content and not AcquisitionCost.objects.exists()
    ok = hq.post("/analytics/costs/", {"day": "2026-03-01", "channel": "wecom", "amount": "1,200.50", "note": "ads"})
    assert ok.status_code == 302
    cost = AcquisitionCost.objects.get()
    assert (cost.amount_fen, cost.channel, cost.enterprise_id) == (120050, "wecom", brand.enterprise.pk)
    assert _console(brand.manager).post("/analytics/costs/", {"day": "2026-03-01", "channel": "wecom",
                                                               "amount": "1"}).status_code == 403
    assert AcquisitionCost.objects.count() == 1
