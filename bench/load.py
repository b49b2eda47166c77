"""Siyu under load over HTTP on 127.0.0.1, driven by locust, against a minimal Django endpoint in the same run:

  baseline   GET /api/health: a Django view returning {"status": "ok"} through the same middleware, no database
  catalog    GET /api/storefront/products (a shopper's token, a page of 20 products on sale)
  product    GET /api/storefront/products/<id> (a product and its SKUs; records the view)
  order      POST /api/storefront/orders with a fresh Idempotency-Key (pricing, stock, the order and its event)
  callback   POST /channels/wecom/callback/<account>/: pre-built add_external_contact callbacks, each unique (its own
             nonce and contact), signed and encrypted with wechatpy (simulator.wxcrypto, not Siyu's crypto) just
             before the run; each is sent once (the intake stores it and queues its processing; no worker runs)
  customers  GET /customers/ (the console's customer list, signed in through the login form as the HQ admin)
  profile    GET /customers/<id>/ (a customer's profile)
  dashboard  GET / (the console's dashboard)

One server, as `siyu serve` runs it (granian, ASGI by default, --server-workers processes, persistent database
connections), on a free port of 127.0.0.1, over a fresh database seeded with --customers demo customers (their
events, orders and org) and 40 SKUs on sale. Each target runs alone for --seconds with --users locust users that
send their next request as soon as the last one is answered (locust headless, its own process: gevent never
patches the server); the server is stopped at the end. Every request must answer 2xx (200; 201 for an order):
the benchmark fails otherwise.

    siyu bench load --seconds 15 --users 16
    python bench/load.py --seconds 15 [--database-url postgres://postgres@127.0.0.1:5432/siyu_bench_load]

Figures per target: requests/s, p50 and p99 latency (ms); ratios: requests/s against the baseline's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from random import Random
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.checkout import SHOPPERS, _catalog, _free_port, _login  # noqa: E402
from bench.common import BENCH_DIR, ROOT, fresh_database, report, setup_django, start_granian  # noqa: E402

TARGETS = {  # locust user class → what the report calls it
    "Baseline": "baseline",
    "Catalog": "catalog",
    "Product": "product",
    "Order": "order",
    "Callback": "callback",
    "Customers": "customers",
    "Profile": "profile",
    "Dashboard": "dashboard",
}
LOCUSTFILE = ROOT / "bench" / "loadgen" / "locustfile.py"
USERNAME = "admin"
PASSWORD = "bench-load-pw-7391"  # noqa: S105 - a benchmark's throwaway sign-in
TOKEN = "benchToken"  # noqa: S105 - a benchmark credential
AES_KEY = "YmVuY2htYXJrYmVuY2htYXJrYmVuY2htYXJrYmVuY2g"


def _seed(customers: int, rng: Random) -> dict[str, Any]:
    """The demo enterprise (org, customers, events, orders) with `admin` as its HQ admin, 40 SKUs on sale with deep
    stock, and a WeCom account whose callbacks the benchmark signs."""
    from django.contrib.auth import get_user_model

    from siyu.catalog.models import Sku
    from siyu.channels import services as channel_services
    from siyu.customers.models import Customer
    from siyu.org.models import Enterprise
    from siyu.org.scope import Scope
    from siyu.seed.runner import seed_enterprise

    get_user_model().objects.create_user(username=USERNAME, password=PASSWORD)
    seed_enterprise(customers=customers, seed=7, code="bench-load", name="压测品牌")
    enterprise = Enterprise.objects.get(code="bench-load")
    scope = Scope.hq(enterprise.pk)
    sku_ids = _catalog(scope, rng)
    product_ids = sorted(set(Sku.objects.filter(id__in=sku_ids).values_list("product_id", flat=True)))
    account = channel_services.ensure_account(
        enterprise_id=enterprise.pk, kind="wecom", name="bench-load", app_id=str(enterprise.wecom_corp_id),
        token=TOKEN, encoding_aes_key=AES_KEY, base_url="http://127.0.0.1:9/wecom", secret="x",  # noqa: S106
    )
    ids = list(Customer.objects.filter(enterprise_id=enterprise.pk).order_by("id").values_list("id", flat=True))
    return {
        "enterprise_id": enterprise.pk,
        "corp_id": str(enterprise.wecom_corp_id),
        "sku_ids": sku_ids,
        "product_ids": product_ids,
        "customer_ids": rng.sample(ids, min(100, len(ids))),
        "callback_path": f"/channels/wecom/callback/{account.pk}/",
    }


def build_callbacks(corp_id: str, count: int, first: int) -> list[list[str]]:
    """`count` distinct add_external_contact callbacks as the platform sends them: encrypted and signed with wechatpy
    (simulator.wxcrypto), each with its own nonce and external contact, stamped now (Siyu refuses stamps > 300 s
    away). Returns [query string, XML body] pairs."""
    from simulator.wxcrypto import PlatformCrypto

    crypto = PlatformCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=corp_id)
    stamp = str(int(time.time()))
    out = []
    for i in range(first, first + count):
        plain = (
            f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{stamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
            f"<UserID><![CDATA[hq-admin]]></UserID><ExternalUserID><![CDATA[wmload{i:010d}]]></ExternalUserID>"
            f"<State><![CDATA[load]]></State><WelcomeCode><![CDATA[WL{i:012d}]]></WelcomeCode></xml>"
        )
        ciphertext = crypto.encrypt(plain)
        nonce = f"load{i:010d}"
        body = (
            f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
            f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
        )
        query = urlencode({"msg_signature": crypto.sign(stamp, nonce, ciphertext), "timestamp": stamp, "nonce": nonce})
        out.append([query, body])
    return out


def console_session(port: int) -> str:
    """Sign in as the HQ admin through the console's login form (CSRF token and all); the session cookie."""
    import http.client
    import re
    from http.cookies import SimpleCookie

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/login/")
    page = conn.getresponse()
    html = page.read().decode()
    cookies = SimpleCookie()
    for header in page.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if page.status != 200 or match is None or "csrftoken" not in cookies:
        raise SystemExit(f"the login form answered {page.status} without a CSRF token")
    form = urlencode({"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": match.group(1)})
    conn.request("POST", "/login/", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookies['csrftoken'].value}"})
    answer = conn.getresponse()
    answer.read()
    for header in answer.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    conn.close()
    if answer.status != 302 or "sessionid" not in cookies:
        raise SystemExit(f"signing in answered {answer.status}")
    return cookies["sessionid"].value


def _point_mall_at(enterprise_id: int, sim_url: str) -> None:
    """The seeded mini-program account (the demo's app id) signs shoppers in through this run's simulator."""
    from siyu.channels.models import ChannelAccount

    ChannelAccount.objects.filter(enterprise_id=enterprise_id, kind="miniprogram").update(base_url=f"{sim_url}/mp")


# ---------------------------------------------------------------------------------------------------------------
# The server and the load generator


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def run_locust(user_class: str, port: int, users: int, seconds: int, data_file: Path, out: Path) -> dict[str, float]:
    """One target alone: `users` users for `seconds` s; returns its row of locust's statistics."""
    prefix = out / user_class
    locust = str(Path(sys.executable).parent / "locust")
    argv = [
        locust, "-f", str(LOCUSTFILE), "--headless", "--users", str(users), "--spawn-rate", str(max(users * 10, 1)),
        "--run-time", f"{seconds}s", "--host", f"http://127.0.0.1:{port}", "--json-file", str(prefix), "--only-summary",
        "--loglevel", "WARNING", "--stop-timeout", "10", "--exit-code-on-error", "0", user_class,
    ]
    log = out / f"{user_class}.log"
    with log.open("wb") as sink:
        done = subprocess.run(argv, env={**os.environ, "SIYU_LOAD_DATA": str(data_file)}, stdout=sink,  # noqa: S603
                              stderr=subprocess.STDOUT, timeout=seconds + 120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"locust exited with {done.returncode} for {user_class}; see {log}")
    name = TARGETS[user_class]
    with open(f"{prefix}.json", encoding="utf-8") as f:
        entries = {entry["name"]: entry for entry in json.load(f)}
    if name not in entries:
        raise SystemExit(f"locust recorded no {name} request; see {log}")
    entry = entries[name]
    requests = int(entry["num_requests"])
    return {
        "requests": float(requests),
        "failures": float(entry["num_failures"]),
        "per_s": requests / seconds,  # completed in the run (those in flight at the end finish and count)
        "p50_ms": percentile(entry["response_times"], 0.50),
        "p99_ms": percentile(entry["response_times"], 0.99),
        "other_failures": float(sum(e["num_failures"] for n, e in entries.items() if n != name)),
    }


def percentile(histogram: dict[str, int], fraction: float) -> float:
    """The response time (ms, as locust rounds it) under which `fraction` of the requests answered."""
    times = sorted((float(ms), count) for ms, count in histogram.items())
    wanted, seen = fraction * sum(count for _ms, count in times), 0
    for ms, count in times:
        seen += count
        if seen >= wanted:
            return ms
    return times[-1][0] if times else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15, help="seconds each target runs")
    parser.add_argument("--users", type=int, default=16, help="concurrent locust users per target")
    parser.add_argument("--customers", type=int, default=20_000, help="demo customers seeded (with their events)")
    parser.add_argument("--callbacks", type=int, default=0,
                        help="callbacks built for the callback target (default: 1,500 a second of --seconds)")
    parser.add_argument("--server-workers", type=int, default=2, help="granian worker processes")
    parser.add_argument("--interface", choices=["asgi", "wsgi"], default="asgi", help="as `siyu serve --interface`")
    parser.add_argument("--targets", default=",".join(TARGETS.values()),
                        help="comma-separated targets to run (the baseline always runs)")
    parser.add_argument("--database-url", default=None, help="default: a fresh var/bench/load.sqlite3")
    parser.add_argument("--out", default=str(BENCH_DIR / "load"), help="folder for locust's statistics and logs")
    args = parser.parse_args(argv)
    wanted = {t.strip() for t in args.targets.split(",") if t.strip()} | {"baseline"}
    unknown = wanted - set(TARGETS.values())
    if unknown:
        raise SystemExit(f"unknown targets: {', '.join(sorted(unknown))}")
    url = fresh_database("load", args.database_url)
    started = time.monotonic()
    setup_django()
    print(f"  migrated in {time.monotonic() - started:.1f} s", flush=True)
    from simulator import miniprogram
    from simulator.server import SimulatorServer
    from simulator.state import current

    started = time.monotonic()
    rng = Random(7)
    world = _seed(args.customers, rng)
    print(f"  seeded {args.customers:,} customers in {time.monotonic() - started:.1f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_file = out / "data.json"
    callbacks_file = out / "callbacks.json"
    port = _free_port()
    results: dict[str, dict[str, float]] = {}
    callbacks_built = 0
    with SimulatorServer(port=0, mounts={"/mp": miniprogram.make_app(current().miniprogram)}) as sim:
        _point_mall_at(world["enterprise_id"], sim.base_url)
        server = start_granian(port, workers=args.server_workers, interface=args.interface)
        try:
            _ids, tokens = _login(port, sim.base_url, SHOPPERS)
            callbacks_file.unlink(missing_ok=True)
            world.update(tokens=list(tokens.values()), callbacks_file=str(callbacks_file),
                         sessionid=console_session(port))
            data_file.write_text(json.dumps(world), encoding="utf-8")
            for user_class, name in TARGETS.items():
                if name not in wanted:
                    continue
                if name == "callback":  # built just before their run: their timestamps must be fresh
                    callbacks_built = args.callbacks or 1500 * args.seconds
                    callbacks_file.write_text(json.dumps(build_callbacks(world["corp_id"], callbacks_built, 0)),
                                              encoding="utf-8")
                results[name] = run_locust(user_class, port, args.users, args.seconds, data_file, out)
                callbacks_file.unlink(missing_ok=True)
                r = results[name]
                print(f"  {name:<10} {r['per_s']:>8,.0f} req/s  p50 {r['p50_ms']:>6,.0f} ms  "
                      f"p99 {r['p99_ms']:>6,.0f} ms  ({r['requests']:,.0f} requests, {r['failures']:,.0f} failed)",
                      flush=True)
        finally:
            stop_server(server)
    _report(url, args, results, callbacks_built, out)


def _report(url: str, args: argparse.Namespace, results: dict[str, dict[str, float]], callbacks_built: int,
            out: Path) -> None:
    base = results["baseline"]["per_s"]
    rows = [
        ("database", url.split("?")[0]),
        ("server", f"granian {args.interface}, {args.server_workers} workers, 127.0.0.1"),
        ("load", f"{args.users} locust users per target, {args.seconds} s each, no think time"),
    ]
    for name, r in results.items():
        ratio = "" if name == "baseline" else f"  ({r['per_s'] / base:.1%} of baseline)"
        rows.append((name, f"{r['per_s']:,.1f} req/s, p50 {r['p50_ms']:,.0f} ms, p99 {r['p99_ms']:,.0f} ms{ratio}"))
    if "callback" in results:
        sent = results["callback"]["requests"]
        rows.append(("callbacks sent / built", f"{sent:,.0f} / {callbacks_built:,}"
                     + ("  (ran out: raise --callbacks)" if sent >= callbacks_built else "")))
    figures: dict[str, float] = {}
    for name, r in results.items():
        figures[f"{name}_requests_per_s"] = r["per_s"]
        figures[f"{name}_p50_ms"] = r["p50_ms"]
        figures[f"{name}_p99_ms"] = r["p99_ms"]
    ratios = {f"{name}_requests_per_s_vs_baseline": r["per_s"] / base
              for name, r in results.items() if name != "baseline"}
    failed = {name: r["failures"] + r["other_failures"] for name, r in results.items()
              if r["failures"] + r["other_failures"]}
    if failed:
        rows.append(("FAILED requests", ", ".join(f"{n}: {c:,.0f}" for n, c in failed.items())))
    report("load", rows, figures, ratios)
    if failed:
        raise SystemExit(f"requests failed: {failed} (locust logs in {out})")


if __name__ == "__main__":
    main()
