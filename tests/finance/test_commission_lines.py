"""The lines behind a commission statement in the console: each accrual with its order, line, rule and amounts,
paged, exported to Excel for one statement, and scoped like the statements (staff their own, managers their stores,
HQ all; another brand's or another staff member's lines are not found)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from openpyxl import load_workbook

from siyu.finance.commission_models import SaleAccrual
from tests.finance.conftest import Paying
from tests.finance.test_commissions import _offline, _rules

pytestmark = pytest.mark.django_db

NOV = datetime(2026, 11, 3, 4, 0, tzinfo=UTC)


def _client(p: Paying, username: str) -> Client:
    client = Client()
    client.force_login(getattr(p.shop.org, username).user)
    return client


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr data-accrual-id="\d+" data-kind="(\w+)">', html)


def test_a_staff_statement_drills_down_to_its_lines_and_exports_them(paying: Paying) -> None:
    _rules(paying)
    org = paying.shop.org
    order = _offline(paying, staff_id=org.n1_staff.pk, at=NOV)
    hq = _client(paying, "hq")
    statements = hq.get("/finance/commissions/statements/?month=2026-11").content.decode()
    link = f"/finance/commissions/statements/lines/?month=2026-11&amp;staff={org.n1_staff.pk}"
    assert link in statements
    page = hq.get(link.replace("&amp;", "&"))
    assert page.status_code == 200
    html = page.content.decode()
    assert _rows(html) == ["sale", "sale"]
    # tissue 2 x ¥19.90 at the category rule's 10%; pan ¥299.00 at its product rule's ¥15 a unit
    assert order.order_no in html and f"/orders/{order.pk}/" in html
    for text in ("纸品 10%", "锅 ¥15/件", "39.80", "3.98", "299.00", "15.00"):
        assert text in html, text
    export = hq.get(f"/finance/commissions/statements/lines/export/?month=2026-11&staff={org.n1_staff.pk}")
    assert export.status_code == 200 and export["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(export.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    body = sorted((r[2], r[4], r[7], r[8], r[11], r[12]) for r in rows[2:])
    assert body == sorted([(order.order_no, "纸品 10%", 39.8, 3.98, 3980, 398),
                           (order.order_no, "锅 ¥15/件", 299.0, 15.0, 29900, 1500)])  # yuan as numeric cells


def test_lines_follow_the_statements_scopes(paying: Paying) -> None:
    _rules(paying)
    org = paying.shop.org
    _offline(paying, staff_id=org.n1_staff.pk, at=NOV)
    base = "/finance/commissions/statements/lines/?month=2026-11"
    own = _client(paying, "n1_staff")
    assert _rows(own.get(f"{base}&staff={org.n1_staff.pk}").content.decode()) == ["sale", "sale"]
    assert _rows(own.get(base).content.decode()) == ["sale", "sale"]  # everything they may see: their own
    other = _client(paying, "n2_staff")
    assert other.get(f"{base}&staff={org.n1_staff.pk}").status_code == 404
    assert other.get(f"{base}&store={org.store_n1.pk}").status_code == 403  # store statements are for managers
    assert _rows(other.get(base).content.decode()) == []
    assert other.get(f"/finance/commissions/statements/lines/export/?month=2026-11&staff={org.n1_staff.pk}"
                     ).status_code == 404
    manager = _client(paying, "n1_manager")
    assert _rows(manager.get(f"{base}&store={org.store_n1.pk}").content.decode()) == ["sale", "sale"]
    assert _client(paying, "s1_staff").get(f"{base}&store={org.store_n1.pk}").status_code in (403, 404)


def test_lines_are_paged(paying: Paying) -> None:
    org = paying.shop.org
    SaleAccrual.objects.bulk_create([
        SaleAccrual(enterprise_id=org.enterprise.pk, key=f"hand:{n}", kind="sale", order_id=10_000 + n,
                    order_line_id=20_000 + n, store_id=org.store_n1.pk, staff_id=org.n1_staff.pk,
                    source="relationship", quantity=1, sales_fen=100 + n, commission_fen=n, currency="CNY",
                    posted_at=NOV + timedelta(minutes=n))
        for n in range(53)])
    hq = _client(paying, "hq")
    base = f"/finance/commissions/statements/lines/?month=2026-11&staff={org.n1_staff.pk}"
    first, second = hq.get(base).content.decode(), hq.get(base + "&page=2").content.decode()
    assert len(_rows(first)) == 50 and len(_rows(second)) == 3
    assert "1.52" in second and "1.52" not in first  # the last row (sales 152 fen) is on page 2, in time order
    export = hq.get(f"/finance/commissions/statements/lines/export/?month=2026-11&staff={org.n1_staff.pk}")
    sheet = load_workbook(io.BytesIO(export.content)).active
    assert sheet is not None
    figures = [r[11] for r in list(sheet.iter_rows(values_only=True))[2:]]
    assert figures == [100 + n for n in range(53)]
