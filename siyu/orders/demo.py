"""Demo orders: twelve months of purchases by the demo enterprise's existing customers, with their event-log rows.

Repeat purchases follow the catalog's `repurchase_days` per leaf category: a customer who buys tissues or detergent
comes back every few weeks (with some drift, and a chance each cycle of drifting away), one who buys a pan or a
kettle buys it once. Rows are generated in memory and written with bulk inserts; events go through
customers.append_events in batches (the trusted set-based path). Running it again on a seeded enterprise adds nothing.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from siyu.catalog import queries as catalog_queries
from siyu.catalog import services as catalog_services
from siyu.customers import queries as customer_queries
from siyu.customers.services import EventInput, append_events
from siyu.orders.models import (
    CancelReason,
    Fulfillment,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    Platform,
)
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

MAX_BUYERS = 20_000
BUYER_SHARE = 0.4  # of the demo customers, how many have bought something
CHURN_PER_CYCLE = 0.12
BASKET_DAYS = 2  # purchases this close together are one order
FREE_SHIPPING_OVER = 9900
SHIPPING_FEE = 1000
CAMPAIGNS = {1: "年货节", 3: "38女神节", 6: "618", 9: "中秋", 11: "双11", 12: "双12"}


@dataclass(frozen=True)
class DemoOrders:
    buyers: int
    orders: int
    lines: int
    events: int


@dataclass(frozen=True)
class _Sku:
    sku_id: int
    product_id: int
    category_id: int
    name: str
    price_fen: int
    cycle_days: int | None


@dataclass
class _Purchase:
    at: datetime
    sku: _Sku
    quantity: int


def _skus(enterprise_id: int, rng: random.Random) -> list[_Sku]:
    demo = catalog_services.seed_demo_catalog(enterprise_id, rng)  # returns the existing catalog when seeded
    rows = catalog_queries.skus(Scope.hq(enterprise_id, label="seed")).filter(
        is_active=True, product__status="on_sale").values_list(
        "id", "product_id", "product__category_id", "product__name", "specs", "price_fen").order_by("id")
    return [
        _Sku(sku_id=sku_id, product_id=product_id, category_id=category_id,
             name=f"{name} {' '.join(str(v) for v in (specs or {}).values())}".strip()[:200], price_fen=price,
             cycle_days=demo.repurchase_days.get(product_id))
        for sku_id, product_id, category_id, name, specs, price in rows
    ]


def _habit(rng: random.Random, sku: _Sku, since: datetime, until: datetime) -> list[_Purchase]:
    """One customer's purchases of one SKU: a consumable every cycle (drifting), a durable good once."""
    span = (until - since).total_seconds()
    if span <= 0:
        return []
    first = since + timedelta(seconds=rng.random() * span)
    quantity = 1 if sku.price_fen > 10000 else rng.choice([1, 1, 1, 2, 3])
    if sku.cycle_days is None:
        return [_Purchase(at=first, sku=sku, quantity=1)]
    out, moment = [], first
    while moment < until:
        out.append(_Purchase(at=moment, sku=sku, quantity=quantity))
        if rng.random() < CHURN_PER_CYCLE:
            break
        moment += timedelta(days=sku.cycle_days * rng.uniform(0.7, 1.6))
    return out


def _baskets(purchases: list[_Purchase]) -> list[list[_Purchase]]:
    purchases.sort(key=lambda p: p.at)
    baskets: list[list[_Purchase]] = []
    for purchase in purchases:
        if baskets and purchase.at - baskets[-1][0].at < timedelta(days=BASKET_DAYS) and len(baskets[-1]) < 5:
            baskets[-1].append(purchase)
        else:
            baskets.append([purchase])
    return baskets


def _status(rng: random.Random, created: datetime, now: datetime) -> str:
    age = now - created
    if age < timedelta(minutes=30):
        return OrderStatus.PENDING_PAYMENT
    roll = rng.random()
    if roll < 0.05:
        return OrderStatus.CANCELLED
    if age < timedelta(days=2):
        return OrderStatus.PAID
    if age < timedelta(days=7):
        return OrderStatus.SHIPPED if roll < 0.6 else OrderStatus.COMPLETED
    return OrderStatus.REFUNDED if roll < 0.08 else OrderStatus.COMPLETED


@dataclass(frozen=True)
class _World:
    enterprise_id: int
    now: datetime
    stores: Sequence[int]
    staff_by_store: dict[int, list[int]]


def _order(world: _World, rng: random.Random, seq: int, customer: tuple[int, int | None],
           basket: list[_Purchase]) -> tuple[Order, list[OrderLine]]:
    created = basket[0].at
    status = _status(rng, created, world.now)
    source = rng.choices([OrderSource.MALL, OrderSource.STORE, OrderSource.PLATFORM], weights=[60, 30, 10])[0]
    store_id = customer[1] or (rng.choice(world.stores) if world.stores else None)
    fulfillment = Fulfillment.PICKUP if source == OrderSource.STORE else Fulfillment.DELIVERY
    goods = sum(p.sku.price_fen * p.quantity for p in basket)
    coupon = rng.choice([0, 0, 0, 0, 500, 1000]) if goods > 3000 and source == OrderSource.MALL else 0
    shipping = SHIPPING_FEE if fulfillment == Fulfillment.DELIVERY and goods - coupon < FREE_SHIPPING_OVER else 0
    staff = world.staff_by_store.get(store_id or 0, [])
    paid = status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED)
    paid_at = created + timedelta(minutes=rng.randint(1, 20)) if paid else None
    amount = goods - coupon + shipping
    order = Order(
        enterprise_id=world.enterprise_id, customer_id=customer[0], order_no=f"D{world.enterprise_id:04d}{seq:09d}",
        source=source, platform=rng.choice([Platform.TMALL, Platform.JD]) if source == OrderSource.PLATFORM else "",
        external_order_no=f"{rng.randrange(10**15, 10**16)}" if source == OrderSource.PLATFORM else "",
        status=status, fulfillment=fulfillment, store_id=store_id if source != OrderSource.PLATFORM else None,
        channel={"mall": "miniprogram", "store": "store", "platform": "platform"}[source],
        staff_id=rng.choice(staff) if staff and source == OrderSource.MALL and rng.random() < 0.4 else None,
        campaign=CAMPAIGNS.get(timezone.localtime(created).month, "") if source == OrderSource.MALL else "",
        list_total_fen=goods, subtotal_fen=goods, coupon_discount_fen=coupon, shipping_fen=shipping,
        amount_fen=amount, paid_fen=amount if paid else 0,
        refunded_fen=amount if status == OrderStatus.REFUNDED else 0, idempotency_key=f"demo:{seq}",
        breakdown={"demo": True, "goods_payable_fen": goods - coupon, "shipping_fen": shipping,
                   "payable_fen": amount},
        created_at=created, paid_at=paid_at,
        pay_deadline=created + timedelta(minutes=30) if status == OrderStatus.PENDING_PAYMENT else None,
        shipped_at=paid_at + timedelta(days=1) if paid_at and status in (OrderStatus.SHIPPED,
                                                                           OrderStatus.COMPLETED) else None,
        completed_at=paid_at + timedelta(days=4) if paid_at and status == OrderStatus.COMPLETED else None,
        cancelled_at=created + timedelta(minutes=30) if status == OrderStatus.CANCELLED else None,
        cancel_reason=CancelReason.TIMEOUT if status == OrderStatus.CANCELLED else "",
        refunded_at=paid_at + timedelta(days=3) if paid_at and status == OrderStatus.REFUNDED else None,
    )
    return order, _lines(order, basket, coupon, status)


def _lines(order: Order, basket: list[_Purchase], coupon: int, status: str) -> list[OrderLine]:
    from siyu.promotions.pricing import allocate

    amounts = [p.sku.price_fen * p.quantity for p in basket]
    shares = allocate(coupon, amounts) if coupon else [0] * len(amounts)
    refunded = status == OrderStatus.REFUNDED
    return [
        OrderLine(order=order, index=index, sku_id=p.sku.sku_id, product_id=p.sku.product_id,
                  category_id=p.sku.category_id, name=p.sku.name, quantity=p.quantity, price_source="list",
                  unit_list_price_fen=p.sku.price_fen, unit_price_fen=p.sku.price_fen, list_amount_fen=amount,
                  amount_fen=amount, coupon_discount_fen=share, payable_fen=amount - share,
                  components=[[p.sku.sku_id, p.quantity]], refunded_quantity=p.quantity if refunded else 0,
                  refunded_fen=amount - share if refunded else 0)
        for index, (p, amount, share) in enumerate(zip(basket, amounts, shares, strict=True))
    ]


def _events(orders: Sequence[Order], now: datetime) -> list[EventInput]:
    out = []
    for order in orders:
        base = {"order_id": order.pk, "order_no": order.order_no}
        common: dict[str, Any] = {"customer_id": order.customer_id, "channel": order.channel,
                                  "store_id": order.store_id, "staff_id": order.staff_id, "campaign": order.campaign}
        out.append(EventInput(name="order_created", occurred_at=order.created_at,
                              idempotency_key=f"order_created:{order.pk}", **common,
                              properties={**base, "amount_fen": order.amount_fen, "source": order.source,
                                          "platform": order.platform}))
        for name, moment, extra in (
            ("order_paid", order.paid_at, {"amount_fen": order.amount_fen, "stage": "full"}),
            ("order_completed", order.completed_at, {"amount_fen": order.amount_fen}),
            ("order_cancelled", order.cancelled_at, {"reason": order.cancel_reason}),
        ):
            if moment is not None and moment <= now:
                out.append(EventInput(name=name, occurred_at=moment, idempotency_key=f"{name}:{order.pk}",
                                      properties={**base, **extra}, **common))
    return out


def _world(enterprise_id: int, now: datetime) -> _World:
    scope = Scope.hq(enterprise_id, label="seed")
    stores = list(org_queries.stores(scope).filter(is_active=True).values_list("id", flat=True))
    staff_by_store: dict[int, list[int]] = {}
    for staff_id, store_id in org_queries.staff(scope).filter(is_active=True, store__isnull=False).values_list(
            "id", "store_id"):
        staff_by_store.setdefault(store_id, []).append(staff_id)
    return _World(enterprise_id=enterprise_id, now=now, stores=stores, staff_by_store=staff_by_store)


def _buyers(enterprise_id: int, rng: random.Random, max_buyers: int) -> list[tuple[int, datetime, int | None]]:
    visible = customer_queries.customers(Scope.hq(enterprise_id, label="seed"))
    rows: list[tuple[int, datetime, int | None]] = list(
        visible.values_list("id", "created_at", "home_store_id").order_by("id"))
    wanted = min(max_buyers, max(1, int(len(rows) * BUYER_SHARE))) if rows else 0
    return rng.sample(rows, wanted) if wanted < len(rows) else rows


def _write(orders: list[Order], lines: list[list[OrderLine]], now: datetime, enterprise_id: int) -> tuple[int, int]:
    with transaction.atomic():
        Order.objects.bulk_create(orders, batch_size=1000)
        flat = []
        for order, own in zip(orders, lines, strict=True):
            for line in own:
                line.order_id = order.pk
                flat.append(line)
        OrderLine.objects.bulk_create(flat, batch_size=2000)
        events = _events(orders, now)
        for start in range(0, len(events), 5000):
            append_events(enterprise_id=enterprise_id, batch=events[start:start + 5000])
    return len(flat), len(events)


def seed_demo_orders(enterprise_id: int, rng: random.Random, months: int = 12,
                     max_buyers: int = MAX_BUYERS) -> DemoOrders:
    """`months` of orders for up to `max_buyers` of the enterprise's customers (BUYER_SHARE of them). Needs the demo
    catalog (seeded here if missing). Returns what was written; nothing when demo orders exist already."""
    if Order.objects.filter(enterprise_id=enterprise_id, idempotency_key__startswith="demo:").exists():
        return DemoOrders(buyers=0, orders=0, lines=0, events=0)
    now = timezone.now()
    window_start = now - timedelta(days=30 * months)
    skus = _skus(enterprise_id, rng)
    world = _world(enterprise_id, now)
    buyers = _buyers(enterprise_id, rng, max_buyers)
    if not skus or not buyers:
        return DemoOrders(buyers=0, orders=0, lines=0, events=0)
    consumables = [s for s in skus if s.cycle_days is not None]
    seq, totals = 0, [0, 0, 0]
    orders: list[Order] = []
    lines: list[list[OrderLine]] = []
    for customer_id, created_at, home_store in buyers:
        since = max(window_start, created_at)
        picks = rng.sample(consumables, k=min(len(consumables), rng.randint(1, 3))) if consumables else []
        picks += rng.sample(skus, k=rng.randint(0, 2))
        purchases = [p for sku in picks for p in _habit(rng, sku, since, now)]
        for basket in _baskets(purchases):
            seq += 1
            order, own = _order(world, rng, seq, (customer_id, home_store), basket)
            orders.append(order)
            lines.append(own)
        if len(orders) >= 5000:
            totals[1:] = [a + b for a, b in zip(totals[1:], _write(orders, lines, now, enterprise_id), strict=True)]
            totals[0] += len(orders)
            orders, lines = [], []
    if orders:
        totals[1:] = [a + b for a, b in zip(totals[1:], _write(orders, lines, now, enterprise_id), strict=True)]
        totals[0] += len(orders)
    return DemoOrders(buyers=len(buyers), orders=totals[0], lines=totals[1], events=totals[2])
