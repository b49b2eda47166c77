"""Event ingestion three ways over the same rows, in one run, each from an empty event table:

  (a) baseline: Django `bulk_create` of ready-made Event rows, one transaction per batch (the bulk path the
      service itself writes with, minus everything the service checks);
  (b) the service: `customers.services.ingest_events` in batches (validation, customer and reference checks,
      idempotency, one transaction per batch);
  (c) the HTTP API: `POST /api/events/batch` on a real server (granian, one WSGI worker, 127.0.0.1) with a bearer
      token; the request bodies are encoded before the clock starts, as the baseline's rows are built before it.

    siyu bench ingest --events 1000000
    python bench/ingest.py --events 100000 [--batch 5000] [--database-url postgres://.../siyu_bench_ingest]

Targets (TARGETS.md): service >= 50% and API >= 25% of the baseline's events/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, fresh_database, report, setup_django  # noqa: E402

PAYLOADS: list[tuple[str, str, dict[str, Any]]] = [
    ("page_viewed", "miniprogram", {"path": "/pages/index/index", "title": "首页"}),
    ("product_viewed", "miniprogram", {"product_id": 42}),
    ("message_received", "wecom", {"kind": "text", "text": "你好，请问这款还有货吗？"}),
    ("check_in", "miniprogram", {"streak": 3}),
]


def _rows(count: int, customer_ids: list[int], store_id: int) -> list[dict[str, Any]]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    rows = []
    for i in range(count):
        name, channel, props = PAYLOADS[i % len(PAYLOADS)]
        rows.append({
            "name": name,
            "occurred_at": start + timedelta(seconds=i * 2),
            "idempotency_key": f"bench:{i}",
            "customer_id": customer_ids[(i * 7919) % len(customer_ids)],
            "channel": channel,
            "store_id": store_id if name == "check_in" else None,
            "properties": props,
        })
    return rows


def _clear_events() -> None:
    from siyu.customers.models import Event

    Event.objects.all().delete()


def _count_events() -> int:
    from siyu.customers.models import Event

    return Event.objects.count()


def run_baseline(enterprise_id: int, rows: list[dict[str, Any]], batch: int) -> float:
    from django.db import transaction

    from siyu.customers.models import Event

    objects = [Event(enterprise_id=enterprise_id, **row) for row in rows]
    started = time.perf_counter()
    for start in range(0, len(objects), batch):
        with transaction.atomic():
            Event.objects.bulk_create(objects[start:start + batch])
    return time.perf_counter() - started


def run_service(enterprise_id: int, rows: list[dict[str, Any]], batch: int) -> float:
    from siyu.customers.services import EventInput, ingest_events

    inputs = [EventInput(**row) for row in rows]
    started = time.perf_counter()
    for start in range(0, len(inputs), batch):
        result = ingest_events(enterprise_id=enterprise_id, batch=inputs[start:start + batch])
        assert result.created == len(inputs[start:start + batch]), result
    return time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the API server exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the API server did not answer within 30 s")


def run_api(token: str, rows: list[dict[str, Any]], batch: int) -> float:
    bodies = [
        json.dumps({"events": [
            {**row, "occurred_at": row["occurred_at"].isoformat()} for row in rows[start:start + batch]
        ]}).encode()
        for start in range(0, len(rows), batch)
    ]
    port = _free_port()
    granian = str(Path(sys.executable).parent / "granian")
    server = subprocess.Popen(  # noqa: S603
        [granian, "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--log-level", "warning", "siyu.wsgi:application"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "siyu.settings"},
    )
    try:
        _wait_for(port, server)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        started = time.perf_counter()
        for body in bodies:
            conn.request("POST", "/api/events/batch", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise SystemExit(f"API answered {response.status}: {payload[:300]!r}")
        elapsed = time.perf_counter() - started
        conn.close()
        return elapsed
    finally:
        server.terminate()
        server.wait(timeout=30)


def _prepare(customers: int) -> tuple[int, list[int], int, str]:
    from siyu.customers.models import Customer
    from siyu.org.models import Role, Staff, Store
    from siyu.org.services import create_api_token
    from siyu.seed.runner import seed_enterprise

    result = seed_enterprise(customers=customers, events=0, seed=1, code="bench-ingest")
    ids = list(Customer.objects.filter(enterprise_id=result.enterprise_id).values_list("id", flat=True))
    store = Store.objects.filter(enterprise_id=result.enterprise_id).order_by("id").first()
    assert store is not None
    hq = Staff.objects.get(enterprise_id=result.enterprise_id, role=Role.HQ_ADMIN)
    _token, secret = create_api_token(staff=hq, name="bench")
    return result.enterprise_id, ids, store.pk, secret


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000, help="events per batch / request (max 5000)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh var/bench/ingest.sqlite3")
    args = parser.parse_args(argv)
    url = fresh_database("ingest", args.database_url)
    setup_django()
    enterprise_id, customer_ids, store_id, token = _prepare(args.customers)
    rows = _rows(args.events, customer_ids, store_id)
    seconds: dict[str, float] = {}
    for method, run in (
        ("baseline", lambda: run_baseline(enterprise_id, rows, args.batch)),
        ("service", lambda: run_service(enterprise_id, rows, args.batch)),
        ("api", lambda: run_api(token, rows, args.batch)),
    ):
        _clear_events()
        seconds[method] = run()
        written = _count_events()
        if written != args.events:
            raise SystemExit(f"{method} wrote {written} events, expected {args.events}")
        print(f"  {method:<8} {args.events / seconds[method]:>10,.0f} events/s  ({seconds[method]:.1f} s)", flush=True)
    rate = {m: args.events / s for m, s in seconds.items()}
    table = [
        ("database", url.split("?")[0]),
        ("events / batch", f"{args.events:,} / {args.batch:,}"),
        ("baseline (bulk_create)", f"{rate['baseline']:,.0f} events/s"),
        ("service (ingest_events)", f"{rate['service']:,.0f} events/s  {rate['service'] / rate['baseline']:.0%}"),
        ("API (POST /api/events/batch)", f"{rate['api']:,.0f} events/s  {rate['api'] / rate['baseline']:.0%}"),
        ("targets", "service >= 50%, API >= 25% of baseline"),
    ]
    figures = {
        "events": float(args.events),
        "baseline_events_per_s": rate["baseline"],
        "service_events_per_s": rate["service"],
        "api_events_per_s": rate["api"],
    }
    ratios = {
        "service_events_per_s_vs_baseline": rate["service"] / rate["baseline"],
        "api_events_per_s_vs_baseline": rate["api"] / rate["baseline"],
    }
    report("ingest", table, figures, ratios)


if __name__ == "__main__":
    main()
