"""Checkout throughput: orders placed per second on one process, three ways in one run over the same carts:

  (a) baseline: a plain order insert — the Order row and its OrderLine rows written with the ORM in one
      transaction, with the same shape and amounts, and nothing else (no pricing, stock, coupon or event);
  (b) the service: `storefront.services.checkout.place_order` (load + price with the promotions engine, order and lines
      with the breakdown, one conditional stock UPDATE, the coupon locked where one is used, the order_created event);
  (c) the HTTP API: `POST /api/storefront/orders` on a real server (granian, one WSGI worker, 127.0.0.1, persistent
      database connections) with the customer tokens from `POST /api/storefront/login` (the mini-program platform is
      the in-process simulator).

(b) and (c) run twice: one order at a time, and with --clients concurrent callers (threads calling the service, or
HTTP clients each on its own keep-alive connection to the same one-worker server), as a shop's traffic arrives: while
one checkout waits on PostgreSQL (its commit's WAL flush, a round trip), another one's Python runs.

And the pricing engine's cost per order: `pricing.price()` on the same carts, loaded beforehand (the engine alone),
and `load_pricing_input` (its database reads) separately; then the statements one `place_order` sends, counted on
100 more checkouts (not timed).

Carts: 1-4 lines over 40 SKUs, an all-products full-reduction (满199减20 / 满299减40 / 满499减80) and a coupon on one
order in four (each such cart has a coupon of its own in every run).

    siyu bench checkout --orders 2000
    python bench/checkout.py --orders 1000 [--database-url postgres://postgres@127.0.0.1:5432/siyu_bench_checkout]

Target (TARGETS.md): >= 200 orders/s on PostgreSQL on one process; pricing < 1 ms per order.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from random import Random
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, report, setup_django, start_granian  # noqa: E402

ADDRESS = {"name": "测试", "phone": "13800138000", "detail": "上海市静安区南京西路1号"}
SHOPPERS = 20
COUNTED = 100  # carts placed once more with their statements counted


@dataclass
class World:
    enterprise_id: int
    store_id: int
    sku_ids: list[int]
    customer_ids: list[int]
    tokens: dict[int, str]
    coupons: dict[int, list[int]]  # customer → coupons not used yet


@dataclass(frozen=True)
class Cart:
    customer_id: int
    lines: tuple[tuple[int, int], ...]  # (sku id, quantity)
    coupon: bool


def _carts(world: World, count: int, rng: Random) -> list[Cart]:
    return [
        Cart(customer_id=world.customer_ids[i % len(world.customer_ids)],
             lines=tuple((sku, rng.randint(1, 3)) for sku in rng.sample(world.sku_ids, rng.randint(1, 4))),
             coupon=i % 4 == 0)
        for i in range(count)
    ]


# ---------------------------------------------------------------------------------------------------------------
# Set-up (not timed)


def _org() -> tuple[int, int, Any]:
    from siyu.org.models import Enterprise, Region, Role, Staff, Store
    from siyu.org.scope import Scope

    enterprise = Enterprise.objects.create(name="Bench Brand", code="bench-checkout")
    region = Region.objects.create(enterprise=enterprise, name="East", code="east")
    store = Store.objects.create(enterprise=enterprise, region=region, name="Shanghai 1", code="sh1")
    Staff.objects.create(enterprise=enterprise, name="hq", role=Role.HQ_ADMIN)
    return enterprise.pk, store.pk, Scope.hq(enterprise.pk)


def _catalog(scope: Any, rng: Random) -> list[int]:
    from django.utils import timezone

    from siyu.catalog import services as catalog
    from siyu.catalog.models import Sku
    from siyu.core.money import Money
    from siyu.promotions import services as promotions

    root = catalog.create_category(scope=scope, name="日用")
    leaf = catalog.create_category(scope=scope, name="清洁", parent_id=root.pk)
    for i in range(40):
        price = rng.choice([990, 1990, 2990, 4990, 8900, 12900, 19900])
        catalog.create_product(scope=scope, data=catalog.ProductInput(
            name=f"商品 {i}", category_id=leaf.pk, status="on_sale",
            skus=[catalog.SkuInput(code=f"B{i:03d}", price=Money(price), stock=10_000_000)]))
    now = timezone.now()
    promotions.create_full_reduction(scope=scope, data=promotions.FullReductionInput(
        name="满199减20/满299减40/满499减80", tiers=[(19900, 2000), (29900, 4000), (49900, 8000)],
        starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=30)))
    promotions.set_shipping_policy(scope=scope, free_over=Money(9900), fee=Money(1000))
    return list(Sku.objects.filter(enterprise_id=scope.enterprise_id).order_by("id").values_list("id", flat=True))


def _coupons(scope: Any, wanted: dict[int, int]) -> dict[int, list[int]]:
    """`wanted[customer]` coupons for each customer: as many as that customer's carts will use."""
    from siyu.core.money import Money
    from siyu.promotions import services as promotions

    template = promotions.create_coupon_template(scope=scope, data=promotions.CouponTemplateInput(
        name="无门槛5元", kind="fixed", amount_off=Money(500), valid_days=30, per_customer_limit=1000))
    return {
        cid: [promotions.issue_coupon(enterprise_id=scope.enterprise_id, template_id=template.pk, customer_id=cid,
                                      idempotency_key=f"bench-{cid}-{n}").pk for n in range(count)]
        for cid, count in wanted.items()
    }


def _coupons_wanted(carts: list[Cart], counted: int) -> dict[int, int]:
    """Every coupon cart gets a coupon in each run that places it: the service's and the API's, one at a time and
    concurrent, and the first `counted` carts once more when the statements are counted."""
    wanted: Counter[int] = Counter()
    for n, cart in enumerate(carts):
        if cart.coupon:
            wanted[cart.customer_id] += 5 if n < counted else 4
    return dict(wanted)


def _login(port: int, sim_url: str, users: int) -> tuple[list[int], dict[int, str]]:
    import httpx

    from simulator.miniprogram import DEMO_APP_ID

    ids, tokens = [], {}
    for n in range(users):
        code = httpx.post(f"{sim_url}/mp/sim/code", json={"appid": DEMO_APP_ID, "user": f"bench-{n}"}).json()["code"]
        body = _request(port, "POST", "/api/storefront/login", {"appid": DEMO_APP_ID, "code": code}, None, 200)
        ids.append(body["customer_id"])
        tokens[body["customer_id"]] = body["token"]
    return ids, tokens


def _mall_account(enterprise_id: int, sim_url: str) -> None:
    from simulator.miniprogram import DEMO_APP_ID, DEMO_SECRET
    from siyu.channels.models import ChannelAccount

    account = ChannelAccount(enterprise_id=enterprise_id, kind="miniprogram", name="商城", app_id=DEMO_APP_ID,
                             callback_token="bench", base_url=f"{sim_url}/mp")  # noqa: S106
    account.secret = DEMO_SECRET
    account.save()


# ---------------------------------------------------------------------------------------------------------------
# The three ways


def run_baseline(world: World, carts: list[Cart]) -> float:
    """Plain inserts of the same rows: what writing an order costs with nothing else around it."""
    from django.db import transaction
    from django.utils import timezone

    from siyu.catalog.models import Sku
    from siyu.orders.models import Order, OrderLine

    prices = dict(Sku.objects.filter(id__in=world.sku_ids).values_list("id", "price_fen"))
    started = time.perf_counter()
    for n, cart in enumerate(carts):
        total = sum(prices[s] * q for s, q in cart.lines)
        with transaction.atomic():
            order = Order.objects.create(
                enterprise_id=world.enterprise_id, customer_id=cart.customer_id, order_no=f"BASE{n:012d}",
                list_total_fen=total, subtotal_fen=total, amount_fen=total, created_at=timezone.now(),
                address=ADDRESS, breakdown={"payable_fen": total})
            OrderLine.objects.bulk_create([
                OrderLine(order=order, index=i, sku_id=s, name=f"SKU {s}", quantity=q, unit_list_price_fen=prices[s],
                          unit_price_fen=prices[s], list_amount_fen=prices[s] * q, amount_fen=prices[s] * q,
                          payable_fen=prices[s] * q, components=[[s, q]])
                for i, (s, q) in enumerate(cart.lines)])
    return time.perf_counter() - started


def _coupon_for(world: World, cart: Cart) -> int | None:
    return world.coupons[cart.customer_id].pop() if cart.coupon and world.coupons[cart.customer_id] else None


def _service_inputs(world: World, carts: list[Cart]) -> list[tuple[int, Any]]:
    from siyu.storefront.services import cart as orders_cart
    from siyu.storefront.services import checkout

    return [
        (cart.customer_id, checkout.CheckoutInput(
            lines=[orders_cart.LineInput(quantity=q, sku_id=s) for s, q in cart.lines], address=ADDRESS,
            coupon_id=_coupon_for(world, cart)))
        for cart in carts
    ]


def run_service(world: World, carts: list[Cart]) -> float:
    from siyu.storefront.services import checkout

    inputs = _service_inputs(world, carts)
    started = time.perf_counter()
    for customer_id, data in inputs:
        checkout.place_order(enterprise_id=world.enterprise_id, customer_id=customer_id, data=data)
    return time.perf_counter() - started


def run_service_concurrent(world: World, carts: list[Cart], clients: int) -> float:
    from django.db import connection

    from siyu.storefront.services import checkout

    inputs = _service_inputs(world, carts)
    shares = [inputs[i::clients] for i in range(clients)]

    def caller(share: list[tuple[int, Any]]) -> None:
        try:
            for customer_id, data in share:
                checkout.place_order(enterprise_id=world.enterprise_id, customer_id=customer_id, data=data)
        finally:
            connection.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(caller, shares))
    return time.perf_counter() - started


def _request(port: int, method: str, path: str, body: Any, token: str | None, expect: int) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body).encode(), headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    if response.status != expect:
        raise SystemExit(f"{path} answered {response.status}: {payload[:300]!r}")
    return json.loads(payload)


def _api_bodies(world: World, carts: list[Cart]) -> list[tuple[str, bytes]]:
    bodies = []
    for cart in carts:
        body: dict[str, Any] = {"lines": [{"sku_id": s, "quantity": q} for s, q in cart.lines], "address": ADDRESS}
        coupon = _coupon_for(world, cart)
        if coupon is not None:
            body["coupon_id"] = coupon
        bodies.append((world.tokens[cart.customer_id], json.dumps(body).encode()))
    return bodies


def _post_orders(port: int, bodies: list[tuple[str, bytes]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for token, body_bytes in bodies:
            conn.request("POST", "/api/storefront/orders", body=body_bytes,
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                                  "Idempotency-Key": uuid.uuid4().hex})
            response = conn.getresponse()
            payload = response.read()
            if response.status != 201:
                raise SystemExit(f"API answered {response.status}: {payload[:300]!r}")
    finally:
        conn.close()


def run_api(world: World, carts: list[Cart], port: int, clients: int = 1) -> float:
    bodies = _api_bodies(world, carts)
    shares = [bodies[i::clients] for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(lambda share: _post_orders(port, share), shares))
    return time.perf_counter() - started


def count_queries(world: World, carts: list[Cart]) -> tuple[float, int]:
    """(mean, max) statements per `place_order` over these carts, BEGIN and COMMIT included (not timed: counting
    makes every statement slower)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from siyu.storefront.services import cart as orders_cart
    from siyu.storefront.services import checkout

    counts = []
    for cart in carts:
        data = checkout.CheckoutInput(lines=[orders_cart.LineInput(quantity=q, sku_id=s) for s, q in cart.lines],
                                      address=ADDRESS, coupon_id=_coupon_for(world, cart))
        with CaptureQueriesContext(connection) as captured:
            checkout.place_order(enterprise_id=world.enterprise_id, customer_id=cart.customer_id, data=data)
        counts.append(len(captured.captured_queries))
    return sum(counts) / len(counts), max(counts)


def run_pricing(world: World, carts: list[Cart]) -> tuple[float, float]:
    """(seconds for load_pricing_input over all carts, seconds for pricing.price over all carts)."""
    from siyu.promotions import pricing
    from siyu.promotions import queries as promotion_queries

    started = time.perf_counter()
    inputs = [
        promotion_queries.load_pricing_input(
            enterprise_id=world.enterprise_id, customer_id=cart.customer_id,
            lines=[pricing.CartLine(quantity=q, sku_id=s) for s, q in cart.lines])
        for cart in carts
    ]
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    for cart_input in inputs:
        pricing.price(cart_input)
    return loaded, time.perf_counter() - started


# ---------------------------------------------------------------------------------------------------------------
# Server plumbing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _count_orders(prefix: str = "") -> int:
    from siyu.orders.models import Order

    qs = Order.objects.all()
    return qs.filter(order_no__startswith=prefix).count() if prefix else qs.count()


def _measure(world: World, carts: list[Cart], port: int, clients: int) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for method, run in (
        ("baseline", lambda: run_baseline(world, carts)),
        ("service", lambda: run_service(world, carts)),
        ("api", lambda: run_api(world, carts, port)),
        ("service_concurrent", lambda: run_service_concurrent(world, carts, clients)),
        ("api_concurrent", lambda: run_api(world, carts, port, clients)),
    ):
        before = _count_orders()
        seconds[method] = run()
        if _count_orders() - before != len(carts):
            raise SystemExit(f"{method} did not write {len(carts)} orders")
        print(f"  {method:<18} {len(carts) / seconds[method]:>8,.0f} orders/s  ({seconds[method]:.2f} s)", flush=True)
    seconds["load"], seconds["price"] = run_pricing(world, carts)
    seconds["queries_mean"], seconds["queries_max"] = count_queries(world, carts[:COUNTED])
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1000, help="orders per method")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=8, help="concurrent callers for the concurrent figures")
    parser.add_argument("--database-url", default=None, help="default: a fresh var/bench/checkout.sqlite3")
    args = parser.parse_args(argv)
    url = fresh_database("checkout", args.database_url)
    setup_django()
    from simulator import miniprogram
    from simulator.server import SimulatorServer
    from simulator.state import current

    rng = Random(args.seed)
    enterprise_id, store_id, scope = _org()
    sku_ids = _catalog(scope, rng)
    port = _free_port()
    with SimulatorServer(port=0, mounts={"/mp": miniprogram.make_app(current().miniprogram)}) as sim:
        _mall_account(enterprise_id, sim.base_url)
        server = start_granian(port, seconds=30, what="the API server")
        try:
            customer_ids, tokens = _login(port, sim.base_url, SHOPPERS)
            world = World(enterprise_id=enterprise_id, store_id=store_id, sku_ids=sku_ids,
                          customer_ids=customer_ids, tokens=tokens, coupons={cid: [] for cid in customer_ids})
            carts = _carts(world, args.orders, rng)
            world.coupons.update(_coupons(scope, _coupons_wanted(carts, COUNTED)))
            seconds = _measure(world, carts, port, args.clients)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    n = args.orders
    rate = {m: n / seconds[m] for m in ("baseline", "service", "api", "service_concurrent", "api_concurrent")}
    price_ms, load_ms = 1000 * seconds["price"] / n, 1000 * seconds["load"] / n
    service_ms = 1000 / rate["service"]
    table = [
        ("database", url.split("?")[0]),
        ("orders per method", f"{n:,} (1-4 lines, full-reduction, a coupon on 1 in 4)"),
        ("baseline (plain order insert)", f"{rate['baseline']:,.0f} orders/s"),
        ("service (place_order)", f"{rate['service']:,.0f} orders/s  {rate['service'] / rate['baseline']:.0%}"),
        ("API (POST /api/storefront/orders)", f"{rate['api']:,.0f} orders/s  {rate['api'] / rate['baseline']:.0%}"),
        (f"service, {args.clients} concurrent callers", f"{rate['service_concurrent']:,.0f} orders/s"),
        (f"API, {args.clients} concurrent clients", f"{rate['api_concurrent']:,.0f} orders/s"),
        ("pricing engine (price)", f"{price_ms:.3f} ms/order  ({price_ms / service_ms:.1%} of a checkout)"),
        ("pricing loader (load_pricing_input)", f"{load_ms:.3f} ms/order"),
        ("statements per place_order",
         f"{seconds['queries_mean']:.1f} on average, {seconds['queries_max']:.0f} at most (BEGIN/COMMIT included)"),
        ("targets", ">= 200 orders/s on PostgreSQL; pricing < 1 ms/order"),
    ]
    figures = {
        "orders": float(n),
        "baseline_orders_per_s": rate["baseline"],
        "service_orders_per_s": rate["service"],
        "api_orders_per_s": rate["api"],
        "service_concurrent_orders_per_s": rate["service_concurrent"],
        "api_concurrent_orders_per_s": rate["api_concurrent"],
        "pricing_ms_per_order": price_ms,
        "pricing_load_ms_per_order": load_ms,
        "service_queries_per_order": seconds["queries_mean"],
    }
    ratios = {
        "service_orders_per_s_vs_plain_insert": rate["service"] / rate["baseline"],
        "api_orders_per_s_vs_plain_insert": rate["api"] / rate["baseline"],
        "service_concurrent_orders_per_s_vs_plain_insert": rate["service_concurrent"] / rate["baseline"],
        "api_concurrent_orders_per_s_vs_plain_insert": rate["api_concurrent"] / rate["baseline"],
        "pricing_ms_per_order_vs_service_ms_per_order": price_ms / service_ms,
    }
    report("checkout", table, figures, ratios)


if __name__ == "__main__":
    main()
