"""Tracked links (/l/<token>): a signed short redirect that counts a person's click once per customer and Shanghai
day (HEAD, crawlers and link previews go through uncounted), and a paid order within 7 days of a click counts one
conversion for the material, once per order, through the orders app's paid hook. The counts show on the material's
page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.content import links, services
from siyu.content.models import ContentUse, MaterialKind, UseKind
from siyu.customers import services as customer_services
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop, line, paid

pytestmark = pytest.mark.django_db
PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN")
TARGET = "https://shop.example.com/p/autumn?from=siyu"


@pytest.fixture
def shop(org: Org) -> Shop:
    return build_shop(org)


@pytest.fixture
def link_material(org: Org) -> int:
    return int(services.create_material(scope=scope_for_staff(org.hq), actor=None, data=services.MaterialInput(
        kind=MaterialKind.LINK, title="秋季新品", text="满99包邮", url=TARGET)).pk)


def _clicks(material_id: int) -> int:
    return ContentUse.objects.filter(material_id=material_id, kind=UseKind.CLICKED).count()


def _conversions(material_id: int) -> int:
    return ContentUse.objects.filter(material_id=material_id, kind=UseKind.CONVERTED).count()


def test_a_person_opening_the_link_is_counted_once_a_day(org: Org, shop: Shop, link_material: int) -> None:
    url = links.path(enterprise_id=org.enterprise.pk, material_id=link_material, customer_id=shop.customer.pk)
    assert url.startswith("/l/") and len(url) < 40
    browser = Client(HTTP_USER_AGENT=PHONE_UA)
    first = browser.get(url)
    assert first.status_code == 302 and first["Location"] == TARGET and first["Cache-Control"] == "no-store"
    browser.get(url)
    Client(HTTP_USER_AGENT=PHONE_UA).get(url)  # the same customer on another device, the same day
    assert _clicks(link_material) == 1
    row = ContentUse.objects.get(material_id=link_material, kind=UseKind.CLICKED)
    assert row.customer_id == shop.customer.pk


def test_heads_crawlers_and_previews_are_not_counted(org: Org, shop: Shop, link_material: int) -> None:
    url = links.path(enterprise_id=org.enterprise.pk, material_id=link_material, customer_id=shop.customer.pk)
    assert Client(HTTP_USER_AGENT=PHONE_UA).head(url).status_code == 302
    for agent in ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
                  "facebookexternalhit/1.1", "curl/8.5.0", ""):
        answer = Client(HTTP_USER_AGENT=agent).get(url)
        assert answer.status_code == 302 and answer["Location"] == TARGET
    assert _clicks(link_material) == 0
    assert Client(HTTP_USER_AGENT=PHONE_UA).post(url).status_code == 405


def test_the_day_is_shanghais(org: Org, shop: Shop, link_material: int) -> None:
    target = links.LinkTarget(org.enterprise.pk, link_material, shop.customer.pk)
    late = datetime(2026, 12, 6, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    assert links.record_click(target, at=late, ip="1.2.3.4", user_agent=PHONE_UA)
    assert not links.record_click(target, at=late + timedelta(seconds=30), ip="1.2.3.4", user_agent=PHONE_UA)
    assert links.record_click(target, at=late + timedelta(minutes=2), ip="1.2.3.4", user_agent=PHONE_UA)  # 00:01
    assert _clicks(link_material) == 2


def test_a_moment_link_counts_visitors(org: Org, link_material: int) -> None:
    url = links.path(enterprise_id=org.enterprise.pk, material_id=link_material, customer_id=None)
    Client(HTTP_USER_AGENT=PHONE_UA, REMOTE_ADDR="10.0.0.1").get(url)
    Client(HTTP_USER_AGENT=PHONE_UA, REMOTE_ADDR="10.0.0.1").get(url)
    Client(HTTP_USER_AGENT=PHONE_UA, REMOTE_ADDR="10.0.0.2").get(url)
    rows = ContentUse.objects.filter(material_id=link_material, kind=UseKind.CLICKED)
    assert rows.count() == 2 and {r.customer_id for r in rows} == {None}
    assert all("10.0.0" not in r.key for r in rows)  # the address is hashed, never stored


def test_forged_tokens_and_other_materials_are_404(org: Org, shop: Shop, link_material: int) -> None:
    good = links.token(enterprise_id=org.enterprise.pk, material_id=link_material, customer_id=shop.customer.pk)
    payload, signature = good.split(".")
    browser = Client(HTTP_USER_AGENT=PHONE_UA)
    walked = payload.replace(f"-{link_material:x}-", f"-{link_material + 1:x}-")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    for bad in (f"{walked}.{signature}", f"{payload}.{flipped}", payload, "x" * 200, f"{good}.x"):
        assert browser.get(f"/l/{bad}").status_code == 404
    text = services.create_material(scope=scope_for_staff(org.hq), actor=None, data=services.MaterialInput(
        kind=MaterialKind.TEXT, title="纯文字", text="hello"))
    other = links.path(enterprise_id=org.enterprise.pk, material_id=text.pk, customer_id=None)
    assert browser.get(other).status_code == 404  # only link materials redirect
    foreign = links.path(enterprise_id=org.enterprise.pk + 1, material_id=link_material, customer_id=None)
    assert browser.get(foreign).status_code == 404  # a genuine token of another enterprise names none of ours
    assert _clicks(link_material) == 0


def test_a_paid_order_within_the_window_converts_once(org: Org, shop: Shop, link_material: int) -> None:
    url = links.path(enterprise_id=org.enterprise.pk, material_id=link_material, customer_id=shop.customer.pk)
    Client(HTTP_USER_AGENT=PHONE_UA).get(url)
    order = paid(shop, shop.order(line(shop.tissue, 5)))
    assert _conversions(link_material) == 1
    assert links.credit_conversions(org.enterprise.pk, order.pk, timezone.now()) == 1  # the hook again: still one
    assert _conversions(link_material) == 1
    # another customer's order converts nothing; neither does a click older than the window
    other = customer_services.create_customer(enterprise_id=org.enterprise.pk, name="顾客乙")
    paid(shop, shop.order(line(shop.tissue, 5), customer=other), ref="pay-2")
    assert _conversions(link_material) == 1
    ContentUse.objects.filter(kind=UseKind.CLICKED).update(created_at=timezone.now() - timedelta(days=8))
    paid(shop, shop.order(line(shop.tissue, 5)), ref="pay-3")
    assert _conversions(link_material) == 1
    # the material's page shows its counts
    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    page = client.get(f"/content/materials/{link_material}/")
    assert page.context["material"].clicked == 1 and page.context["material"].converted == 1
