"""A backup taken while orders are being placed and paid restores into an empty database and passes `siyu
consistency` there (docs/deployment.md, Backups). pg_dump reads one snapshot, so an order is in the backup with its
events or not at all."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection, connections

from siyu.catalog.models import Sku
from siyu.storefront.services import cart
from tests.conftest import Org
from tests.orders.helpers import build_shop, paid

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
PG = ["-h", "127.0.0.1", "-U", "postgres"]


def _count(dbname: str, sql: str) -> int:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=dbname) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


def test_a_backup_taken_under_load_restores_and_is_consistent(org: Org, tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump and pg_restore work on PostgreSQL")
    shop = build_shop(org)
    Sku.objects.filter(pk=shop.tissue.pk).update(stock=100_000)
    source = str(connection.settings_dict["NAME"])
    stop = threading.Event()
    placed: list[int] = []

    def shop_keeps_selling() -> None:
        try:
            while not stop.is_set():
                order = shop.order(cart.LineInput(sku_id=shop.tissue.pk, quantity=1))
                paid(shop, order, ref=f"load-{len(placed)}")
                placed.append(order.pk)
        finally:
            connections.close_all()

    for i in range(5):
        paid(shop, shop.order(cart.LineInput(sku_id=shop.tissue.pk, quantity=1)), ref=f"before-{i}")
    seller = threading.Thread(target=shop_keeps_selling)
    seller.start()
    while len(placed) < 3:  # the dump starts while orders are going through
        seller.join(0.05)
    dump = tmp_path / "siyu.dump"
    try:
        subprocess.run(["pg_dump", *PG, "-Fc", "-f", str(dump), source], check=True, timeout=300)  # noqa: S603, S607
    finally:
        stop.set()
        seller.join()
    restored = f"siyu_restore_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", *PG, restored], check=True, timeout=60)  # noqa: S603, S607
    try:
        subprocess.run(["pg_restore", *PG, "--no-owner", "-d", restored, str(dump)],  # noqa: S603, S607
                       check=True, timeout=300)
        env = {**os.environ, "SIYU_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{restored}"}
        check = subprocess.run([sys.executable, "-m", "siyu.manage", "consistency"], env=env,  # noqa: S603
                               capture_output=True, text=True, timeout=300)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "every check passed" in check.stdout

        paid_orders = _count(restored, "SELECT count(*) FROM orders_order WHERE paid_at IS NOT NULL")
        paid_events = _count(restored, "SELECT count(*) FROM customers_event WHERE name = 'order_paid'")
        assert 5 + 3 <= paid_orders <= 5 + len(placed)
        assert paid_events == paid_orders
    finally:
        subprocess.run(["dropdb", *PG, "--if-exists", restored], check=True, timeout=60)  # noqa: S603, S607
