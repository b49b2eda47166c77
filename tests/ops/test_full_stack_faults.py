"""The whole stack under faults, on PRIVATE services (never the shared PostgreSQL on 5432 nor Redis on 6379):

a PostgreSQL cluster made by `initdb` in a temporary folder and a `redis-server --save ''`, each on a free port of
127.0.0.1 and stopped by the test; 2 web processes (`siyu serve`) and 2 workers (`siyu worker`) on the Redis queue
(SIYU_TASK_BACKEND=rq); the mall's platforms played by the simulator in this process. While WeCom callbacks and
storefront orders with their payments (place, pay, the WeChat Pay notify, and the notify delivered once more) are
sent concurrently to both web processes, and two SMS campaigns (60 recipients each, the simulated provider taking
150 ms a message) are sent by the workers:

  1. a campaign is launched and a worker is killed with SIGKILL while it works (another is started, as a supervisor
     would);
  2. Redis is stopped for 30 s (its queue is lost with it: --save '') and started again;
  3. the second campaign is launched and PostgreSQL is stopped immediately (`pg_ctl restart -m immediate`, a crash)
     and comes back.

Clients retry as the platforms do: a callback until it is acknowledged, an order with the same Idempotency-Key
until it answers 201, a notify until 204. Then the periodic sweep re-queues what the faults dropped and the workers
finish. Counted against what was sent: every callback stored once and handled (one new contact each), every order
once, every payment paid once with one ledger entry, one order_created and one order_paid event an order, the
ledger's debits equal its credits, every campaign recipient has exactly one message at the provider and every
delivery is `sent`, and `siyu consistency` finds nothing.

Marked slow and postgres; it runs in the PostgreSQL pass of the suite. Under CI=true a missing initdb or
redis-server fails it (tests/proof.py).
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from django.db import connection

from tests import proof
from tests.ops import fullstack_child as child

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
CALLBACKS_PER_WAVE = 40
ORDERS_PER_WAVE = 8
REDIS_DOWN_S = 30  # as the issue asks: long enough for every web hand-off and worker poll to meet it
TIMEOUT = 60  # s; a busy machine answers slowly, and a client that gives up early only retries sooner
ADDRESS = {"name": "测试", "phone": "13800138000", "detail": "上海市静安区南京西路1号"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


class PrivatePostgres:
    """initdb in a folder of its own (owned by `postgres` when we are root: PostgreSQL refuses to run as root)."""

    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin, self.folder, self.port = bin_dir, folder, _free_port()
        self.data = folder / "pg"
        self.as_postgres = os.geteuid() == 0

    def _run(self, *argv: str, timeout: float = 120) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        subprocess.run([*prefix, *argv], check=True, timeout=timeout, capture_output=True, cwd=self.folder)

    def init(self) -> None:
        if self.as_postgres:
            shutil.chown(self.folder, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
                   "-c fsync=off -c max_connections=60")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "pg.log"), "-w",
                  "-o", options, "start")

    def restart_after_crash(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.start()

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        except subprocess.CalledProcessError:
            pass

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/siyu"


class PrivateRedis:
    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder, self.port = binary, folder, _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert _wait_port(self.port, 30), "the private Redis did not start"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


class Processes:
    """Children started by the test, stopped (their process groups) at the end."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as sink:
            process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,  # noqa: S603
                                       start_new_session=True)
        self.running.append(process)
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(process)


def _binaries() -> tuple[Path | None, str | None]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return (Path(found[-1]).parent if found else None), shutil.which("redis-server")


def _retry(what: str, call: Callable[[], httpx.Response], ok: int, seconds: float = 300) -> httpx.Response:
    """As a platform or a shopper's app does: again until the answer is `ok` (errors and refusals while a
    service is down are expected), failing the test past `seconds`."""
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            response = call()
            if response.status_code == ok:
                return response
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise AssertionError(f"{what}: no {ok} within {seconds} s (last: {last})")


class Traffic:
    def __init__(self, ports: list[int], world: dict[str, Any], shoppers: list[str]) -> None:
        from simulator.wxcrypto import PlatformCrypto

        self.ports, self.world, self.shoppers = ports, world, shoppers
        self.crypto = PlatformCrypto(token=child.TOKEN, encoding_aes_key=child.AES_KEY, receive_id=child.CORP)
        self.sent_callbacks = 0
        self.orders: dict[int, int] = {}  # order id → amount the API answered
        self.lock = threading.Lock()

    def _url(self, n: int, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[n % len(self.ports)]}{path}"

    def callback(self, n: int) -> None:
        """A new person adds the HQ member on the (simulated) platform, which sends add_external_contact; Siyu's
        worker then asks the platform about the contact (externalcontact/get)."""
        from simulator.state import current
        from simulator.wecom import Follow

        platform = current().wecom
        person = platform.new_person(child.CORP)
        stamp = str(int(time.time()))
        with platform.lock:
            platform.corp(child.CORP).follows[("hq-admin", person.external_userid)] = Follow(
                userid="hq-admin", external_userid=person.external_userid, createtime=int(stamp))
        plain = (
            f"<xml><ToUserName><![CDATA[{child.CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{stamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]>"
            f"</ChangeType><UserID><![CDATA[hq-admin]]></UserID><ExternalUserID><![CDATA[{person.external_userid}]]>"
            "</ExternalUserID></xml>"
        )
        ciphertext = self.crypto.encrypt(plain)
        nonce = f"fault{n:08d}"
        body = (f"<xml><ToUserName><![CDATA[{child.CORP}]]></ToUserName>"
                f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>").encode()
        query = urlencode({"msg_signature": self.crypto.sign(stamp, nonce, ciphertext), "timestamp": stamp,
                           "nonce": nonce})
        url = self._url(n, f"{self.world['callback_path']}?{query}")
        _retry(f"callback {n}", lambda: httpx.post(url, content=body, headers={"Content-Type": "text/xml"},
                                                   timeout=TIMEOUT), 200)
        with self.lock:
            self.sent_callbacks += 1

    def order(self, n: int) -> None:
        from simulator.state import current
        from siyu.channels.demo_accounts import PAY_MERCHANT

        token = self.shoppers[n % len(self.shoppers)]
        auth = {"Authorization": f"Bearer {token}"}
        skus = self.world["sku_ids"]
        body = {"lines": [{"sku_id": skus[n % len(skus)], "quantity": 1 + n % 2}], "address": ADDRESS}
        key = secrets.token_hex(16)
        placed = _retry(f"order {n}", lambda: httpx.post(
            self._url(n, "/api/storefront/orders"), json=body, headers={**auth, "Idempotency-Key": key},
            timeout=TIMEOUT), 201).json()
        order_id, amount = int(placed["id"]), int(placed["amount_fen"])
        started = _retry(f"pay {n}", lambda: httpx.post(self._url(n + 1, f"/api/storefront/orders/{order_id}/pay"),
                                                        headers=auth, timeout=TIMEOUT), 200).json()
        resource = {"appid": PAY_MERCHANT.app_id, "mchid": PAY_MERCHANT.mch_id,
                    "out_trade_no": started["out_trade_no"], "transaction_id": f"42{order_id:018d}",
                    "trade_type": "JSAPI", "trade_state": "SUCCESS", "trade_state_desc": "支付成功",
                    "bank_type": "OTHERS", "attach": "", "success_time": "2026-12-05T10:00:00+08:00",
                    "payer": {"openid": "o_fault"},
                    "amount": {"total": started["amount_fen"], "payer_total": started["amount_fen"],
                               "currency": "CNY", "payer_currency": "CNY"}}
        for delivery in range(2):  # WeChat Pay delivers again when it is unsure: the second must change nothing
            headers, notify = current().wechatpay.build_notify(PAY_MERCHANT.mch_id, "TRANSACTION.SUCCESS", resource)
            _retry(f"notify {n}/{delivery}", lambda h=headers, b=notify, d=delivery: httpx.post(  # type: ignore[misc]
                self._url(n + d, self.world["notify_path"]), content=b,
                headers={**h, "Content-Type": "application/json"}, timeout=TIMEOUT), 204)
        with self.lock:
            self.orders[order_id] = amount

    def wave(self, first: int) -> Iterator[Callable[[], None]]:
        for n in range(first, first + CALLBACKS_PER_WAVE):
            yield lambda n=n: self.callback(n)  # type: ignore[misc]
        for n in range(first, first + ORDERS_PER_WAVE):
            yield lambda n=n: self.order(n)  # type: ignore[misc]


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "ops" / "fullstack_child.py"), *args],  # noqa: S603
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def _login_shoppers(port: int, sim_url: str, count: int) -> list[str]:
    from simulator.miniprogram import DEMO_APP_ID

    tokens = []
    for n in range(count):
        def login(n: int = n) -> httpx.Response:  # a fresh wx.login() code each try: a code is good once
            code = httpx.post(f"{sim_url}/mp/sim/code", json={"appid": DEMO_APP_ID, "user": f"fault-{n}"}).json()
            return httpx.post(f"http://127.0.0.1:{port}/api/storefront/login",
                              json={"appid": DEMO_APP_ID, "code": code["code"]}, timeout=TIMEOUT)

        tokens.append(_retry(f"login {n}", login, 200).json()["token"])
    return tokens


class CountingSms:
    """The simulator's SMS provider, 150 ms a message, counting every POST (a repeat included)."""

    def __init__(self) -> None:
        from simulator.sms import SmsState, make_app

        self.state = SmsState()
        self.posts = 0
        self._app = make_app(self.state)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/send":
            self.posts += 1
            time.sleep(0.15)
        return self._app(environ, start_response)


def _send_through_faults(traffic: Traffic, processes: Processes, workers: list[subprocess.Popen[bytes]],
                         worker_argv: list[str], env: dict[str, str], redis: PrivateRedis, postgres: PrivatePostgres,
                         folder: Path, campaigns: list[int]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        # 1. a campaign sending and the callbacks of wave 1 being processed: a worker killed, a new one started
        _child(env, "launch", str(campaigns[0]))
        running = [pool.submit(job) for job in traffic.wave(0)]
        time.sleep(2)
        processes.kill(workers[0])
        workers.append(processes.start(worker_argv, env, folder / "worker2.log"))
        for future in running:
            future.result()
        # 2. Redis down for 30 s while wave 2 arrives: the web side commits, the hand-off to Redis is refused
        redis.stop()
        stopped = time.monotonic()
        running = [pool.submit(job) for job in traffic.wave(1000)]
        time.sleep(max(0.0, REDIS_DOWN_S - (time.monotonic() - stopped)))
        redis.start()
        for future in running:
            future.result()
        # 3. PostgreSQL crashes and comes back while the second campaign sends and wave 3 arrives
        _child(env, "launch", str(campaigns[1]))
        running = [pool.submit(job) for job in traffic.wave(2000)]
        time.sleep(1)
        postgres.restart_after_crash()
        for future in running:
            future.result()


def _settle(processes: Processes, workers: list[subprocess.Popen[bytes]], worker_argv: list[str],
            env: dict[str, str], enterprise_id: int, folder: Path) -> dict[str, Any]:
    """What the periodic sweep (`siyu scheduler`) does for callbacks still `received` and for campaign sends due or
    left `sending` by a dead worker (after the 2 s lease), until the workers have handled every one; a worker that
    died of the outages is started again, as its supervisor would."""
    deadline = time.monotonic() + 150
    restarted = 0
    while True:
        for k, worker in enumerate(workers):
            if k and worker.poll() is not None:
                workers[k] = processes.start(worker_argv, env, folder / f"worker-again{restarted}.log")
                restarted += 1
        _child(env, "sweep")
        seen = _child(env, "counts", str(enterprise_id))
        unsent = [d for d in seen["deliveries"] if d[1] != "sent"]
        if ("received" not in seen["callbacks"] and not unsent) or time.monotonic() > deadline:
            return seen
        time.sleep(3)


def test_nothing_is_lost_or_doubled_through_a_killed_worker_a_redis_outage_and_a_database_crash() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("runs once, in the PostgreSQL pass (its own private PostgreSQL and Redis either way)")
    pg_bin, redis_bin = _binaries()
    proof.require(proof.POSTGRES, available=pg_bin is not None, detail="no initdb under /usr/lib/postgresql/*/bin")
    proof.require(proof.REDIS, available=redis_bin is not None, detail="no redis-server on PATH")
    assert pg_bin is not None and redis_bin is not None

    from simulator import miniprogram
    from simulator import wechatpay as pay_sim
    from simulator import wecom as wecom_sim
    from simulator.server import SimulatorServer
    from simulator.state import current
    from siyu.channels.demo_accounts import PAY_MERCHANT

    folder = Path(tempfile.mkdtemp(prefix="siyu-faults-"))
    sms = CountingSms()
    postgres, redis = PrivatePostgres(pg_bin, folder), PrivateRedis(redis_bin, folder)
    processes = Processes()
    current().wecom.add_corp(corp_id=child.CORP, secret=child.SECRET, token=child.TOKEN,
                             encoding_aes_key=child.AES_KEY)
    current().wecom.add_member(child.CORP, "hq-admin")
    current().wechatpay.register_known_merchant(
        mch_id=PAY_MERCHANT.mch_id, app_id=PAY_MERCHANT.app_id, apiv3_key=PAY_MERCHANT.apiv3_key,
        merchant_serial=PAY_MERCHANT.merchant_serial_no, merchant_private_pem=PAY_MERCHANT.merchant_private_key,
        platform_private_pem=PAY_MERCHANT.platform_private_key, platform_key_id=PAY_MERCHANT.platform_key_id)
    sim = SimulatorServer(port=0, mounts={"/mp": miniprogram.make_app(current().miniprogram),
                                          "/pay": pay_sim.make_app(current().wechatpay),
                                          "/wecom": wecom_sim.make_app(current().wecom), "/sms": sms})
    sim.start()
    try:
        postgres.init()
        postgres.start()
        redis.start()
        subprocess.run([str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres",
                        "siyu"], check=True, timeout=60)
        env = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "siyu.settings", "PYTHONPATH": str(ROOT),
            "SIYU_DATABASE_URL": postgres.url, "SIYU_TASK_BACKEND": "rq",
            "SIYU_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "SIYU_SECRET_KEY": secrets.token_urlsafe(40),
            "SIYU_DB_CONN_MAX_AGE": "0", "SIYU_LOG_LEVEL": "WARNING",
            "SIYU_SMS_BASE_URL": f"{sim.base_url}/sms", "SIYU_CAMPAIGN_LEASE_S": "2",
        }
        env.pop("SIYU_DEMO", None)
        subprocess.run([sys.executable, "-m", "siyu.manage", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True,
                       timeout=900)
        world = _child(env, "seed", str(sim.port))
        ports = [_free_port(), _free_port()]
        for k, port in enumerate(ports):
            processes.start([sys.executable, "-m", "siyu.manage", "serve", "--port", str(port), "--workers", "1"],
                            {**env, "SIYU_VAR_DIR": str(folder / f"var-web{k}")}, folder / f"web{k}.log")
        worker_argv = [sys.executable, "-m", "siyu.manage", "worker"]
        workers = [processes.start(worker_argv, env, folder / f"worker{k}.log") for k in range(2)]
        for port in ports:
            assert _wait_port(port, 120), (folder / "web0.log").read_text(errors="replace")[-2000:]
        traffic = Traffic(ports, world, _login_shoppers(ports[0], sim.base_url, 4))

        _send_through_faults(traffic, processes, workers, worker_argv, env, redis, postgres, folder,
                             world["campaign_ids"])
        seen = _settle(processes, workers, worker_argv, env, world["enterprise_id"], folder)

        sent_callbacks, orders = traffic.sent_callbacks, traffic.orders
        assert sent_callbacks == 3 * CALLBACKS_PER_WAVE and len(orders) == 3 * ORDERS_PER_WAVE
        # A request stored just before its answer was lost comes again: the same (timestamp, nonce) is one row;
        # the same event under a new stamp is kept as `duplicate`, never processed.
        assert seen["callbacks"].get("processed") == sent_callbacks, seen["callbacks"]
        assert set(seen["callbacks"]) <= {"processed", "duplicate"}, seen["callbacks"]
        assert seen["contacts"] == seen["contact_values"] == sent_callbacks
        assert [(o[0], o[1]) for o in seen["orders"]] == sorted(orders.items())
        assert all(o[2] == o[1] and o[3] == "paid" for o in seen["orders"]), seen["orders"]
        assert [tuple(p) for p in seen["payments_paid"]] == sorted(orders.items())
        assert len(seen["payment_entries"]) == len(set(seen["payment_entries"])) == len(orders)
        assert seen["order_created_events"] == seen["order_paid_events"] == len(orders)
        assert sum(seen["debits"].values()) == sum(seen["credits"].values()) > 0
        first, second = world["campaign_ids"]
        assert seen["deliveries"] == [[first, "sent", child.CAMPAIGN_RECIPIENTS],
                                      [second, "sent", child.CAMPAIGN_RECIPIENTS]], seen["deliveries"]
        phones = sorted(sms.state.inbox)
        assert phones == seen["delivery_phones"] and len(phones) == 2 * child.CAMPAIGN_RECIPIENTS
        assert all(len(sms.state.messages(phone)) == 1 for phone in phones)
        assert sms.posts >= 2 * child.CAMPAIGN_RECIPIENTS
        assert seen["findings"] == []
    except BaseException:
        for log in sorted(folder.glob("*.log")):
            print(f"==== {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        processes.stop_all()
        sim.stop()
        redis.stop()
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)
