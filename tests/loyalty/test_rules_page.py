"""The console's rules page: HQ edits the points rules and the tiers; a refusal shows beside its field with nothing
saved; store staff get the 403 page; every save is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from siyu.core.models import AuditEntry
from siyu.loyalty.models import CategoryRate, PointsProgram, Tier, TierPolicy
from siyu.org.models import Staff
from tests.conftest import Org
from tests.loyalty.helpers import pay
from tests.orders.helpers import build_shop, line

pytestmark = pytest.mark.django_db
URL = "/loyalty/rules/"


def _client(staff: Staff) -> Client:
    client = Client()
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def _formset(prefix: str, rows: list[dict[str, Any]], total: int = 3) -> dict[str, Any]:
    data: dict[str, Any] = {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": "0",
                            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{k}": v for k, v in row.items()})
    return data


PROGRAM = {"form": "program", "is_active": "on", "points_per_yuan": "2", "fen_per_point": "1",
           "return_window_days": "7", "expiry_days": "365", "ugc_points": "10", "follow_oa_points": "0",
           "add_staff_points": "0", "profile_points": "0", "checkout_points_per_yuan": "0",
           "checkout_max_percent": "50"}
TIERS = {"form": "tiers", "basis": "growth", "window_days": "365", "grace_days": "30"}


def test_hq_saves_the_points_rules_with_a_category_rate(org: Org) -> None:
    shop = build_shop(org)
    hq = _client(org.hq)
    page = hq.get(URL)
    assert page.status_code == 200 and 'id="program-form"' in page.content.decode()
    category = shop.tissue.product.category_id
    saved = hq.post(URL, {**PROGRAM, **_formset("rate", [{"category_id": str(category), "points_per_yuan": "3"}])})
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    program = PointsProgram.objects.get()
    assert (program.points_per_yuan, program.ugc_points) == (2, 10)
    assert list(CategoryRate.objects.values_list("category_id", "points_per_yuan")) == [(category, 3)]
    assert AuditEntry.objects.filter(action="points.program").count() == 1
    # the same category twice: refused beside the row, the saved rules unchanged
    twice = hq.post(URL, {**PROGRAM, "points_per_yuan": "5", **_formset("rate", [
        {"category_id": str(category), "points_per_yuan": "3"}, {"category_id": str(category),
                                                                 "points_per_yuan": "4"}])})
    assert twice.status_code == 400
    assert "同一个品类出现了两次" in twice.content.decode()
    assert PointsProgram.objects.get().points_per_yuan == 2


def test_hq_saves_tiers_and_bad_rows_are_refused_beside_the_field(org: Org) -> None:
    shop = build_shop(org)
    hq = _client(org.hq)
    bad = hq.post(URL, {**TIERS, **_formset("tier", [
        {"code": "gold", "name": "金卡", "threshold": "500"}, {"code": "silver", "name": "银卡", "threshold": "100"}])})
    assert bad.status_code == 400
    body = bad.content.decode()
    assert "每个等级的门槛须高于前一个等级" in body
    assert not TierPolicy.objects.exists() and not Tier.objects.exists()
    ok = hq.post(URL, {**TIERS, **_formset("tier", [
        {"code": "silver", "name": "银卡", "threshold": "100", "multiplier_percent": "100", "benefits": "会员价"},
        {"code": "gold", "name": "金卡", "threshold": "500", "multiplier_percent": "150"}])})
    assert ok.status_code == 302
    assert list(Tier.objects.order_by("rank").values_list("code", "rank", "multiplier_percent")) == [
        ("silver", 1, 100), ("gold", 2, 150)]
    assert AuditEntry.objects.filter(action="tiers.configure").count() == 1
    # a held tier cannot be removed: the refusal is shown above the rows
    from tests.loyalty.helpers import setup_program
    setup_program(shop)
    pay(shop.order(line(shop.pan, 1)))
    held = hq.post(URL, {**TIERS, **_formset("tier", [{"code": "gold", "name": "金卡", "threshold": "500"}])})
    assert held.status_code == 400 and "银卡" in held.content.decode()
    assert Tier.objects.filter(is_active=True).count() == 2
    page = hq.get(URL).content.decode()
    assert 'id="tier-counts"' in page


def test_store_staff_get_the_403_page(org: Org) -> None:
    staff = _client(org.n1_staff)
    assert staff.get(URL).status_code == 403
    assert staff.post(URL, {**TIERS, **_formset("tier", [])}).status_code == 403
    assert not TierPolicy.objects.exists()
