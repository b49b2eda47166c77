"""The users `siyu bench load` runs with locust, one class per target (bench/load.py picks one per run).

Run by bench/load.py as a separate process (`locust -f bench/loadgen/locustfile.py --headless ... ClassName`), so
gevent's monkey-patching stays in this process and never touches the Django server it measures. What the users
need (customer tokens, SKUs, products, customers, the console login, the pre-built callbacks) is in the JSON file
named by SIYU_LOAD_DATA, written by bench/load.py; nothing here imports Siyu.

Every request is checked for the status its target answers with (200, or 201 for a placed order): anything else is
a failure in locust's statistics, which bench/load.py reports and refuses.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from typing import Any

from locust import constant, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

ADDRESS = {"name": "压测", "phone": "13800138000", "detail": "上海市静安区南京西路1号"}


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


DATA: dict[str, Any] = _load(os.environ["SIYU_LOAD_DATA"])
# The callbacks are read now, before the clock starts; the file exists only for the callback target's run.
CALLBACKS: Iterator[list[str]] = iter(
    _load(DATA["callbacks_file"]) if os.path.exists(DATA["callbacks_file"]) else [])


def data() -> dict[str, Any]:
    return DATA


class _Target(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    def _get(self, path: str, name: str, headers: dict[str, str] | None = None) -> None:
        with self.client.get(path, name=name, headers=headers, allow_redirects=False, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{name} answered {r.status_code}")


class Baseline(_Target):
    """A minimal Django endpoint: the liveness view (returns {"status": "ok"}), through the same middleware."""

    @task
    def ok(self) -> None:
        self._get("/api/health", "baseline")


class _Shopper(_Target):
    abstract = True
    token = ""

    def on_start(self) -> None:
        self.token = random.choice(data()["tokens"])  # noqa: S311 - load spread, not security
        self.auth = {"Authorization": f"Bearer {self.token}"}


class Catalog(_Shopper):
    @task
    def products(self) -> None:
        self._get("/api/storefront/products?page_size=20", "catalog", self.auth)


class Product(_Shopper):
    @task
    def product(self) -> None:
        product_id = random.choice(data()["product_ids"])  # noqa: S311
        self._get(f"/api/storefront/products/{product_id}", "product", self.auth)


class Order(_Shopper):
    @task
    def place(self) -> None:
        skus = random.sample(data()["sku_ids"], random.randint(1, 3))  # noqa: S311
        body = {"lines": [{"sku_id": s, "quantity": 1} for s in skus], "address": ADDRESS}
        headers = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
        with self.client.post("/api/storefront/orders", json=body, headers=headers, name="order",
                              catch_response=True) as r:
            if r.status_code != 201:
                r.failure(f"order answered {r.status_code}: {(r.text or '')[:200]}")


class Callback(_Target):
    """Each pre-built callback once (validly signed and encrypted, unique nonce and event); stops when they run out."""

    @task
    def callback(self) -> None:
        try:
            query, body = next(CALLBACKS)
        except StopIteration:
            raise StopUser() from None
        with self.client.post(f"{data()['callback_path']}?{query}", data=body, name="callback",
                              headers={"Content-Type": "text/xml"}, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"callback answered {r.status_code}")


class _Console(_Target):
    """The console's pages with the HQ admin's session, signed in through the login form by bench/load.py before
    the clock starts (a sign-in hashes the password: it is not what these figures measure)."""

    abstract = True

    def _page(self, path: str, name: str) -> None:
        self._get(path, name, {"Cookie": f"sessionid={data()['sessionid']}"})


class Customers(_Console):
    @task
    def customer_list(self) -> None:
        self._page("/customers/", "customers")


class Profile(_Console):
    @task
    def profile(self) -> None:
        customer_id = random.choice(data()["customer_ids"])  # noqa: S311
        self._page(f"/customers/{customer_id}/", "profile")


class Dashboard(_Console):
    @task
    def dashboard(self) -> None:
        self._page("/", "dashboard")
