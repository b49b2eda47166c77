"""`siyu demo`: migrate, seed the demo enterprise once, then run the console and the worker in the foreground."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from siyu.channels import demo_accounts
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.official_account.services import ensure_demo_account
from siyu.channels.wecom import seed as wecom_seed
from siyu.core.demo import DEMO_ENTERPRISE, DEMO_PASSWORD, DEMO_USER
from siyu.core.errors import DomainError
from siyu.core.seed.progress import Progress
from siyu.finance import demo as finance_demo
from siyu.org.models import Enterprise
from siyu.seed.runner import seed_enterprise


class Command(BaseCommand):
    help = "Migrate, seed a demo enterprise and serve the console, worker and simulator on 127.0.0.1."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.SIYU_PORT)
        parser.add_argument("--customers", type=int, default=int(os.environ.get("SIYU_DEMO_CUSTOMERS", "20000")),
                            help="customers in the demo enterprise when it is first seeded (SIYU_DEMO_CUSTOMERS)")

    def handle(self, *args: Any, **options: Any) -> None:
        port: int = options["port"]
        call_command("migrate", interactive=False, verbosity=0)
        user_model = get_user_model()
        if not user_model.objects.filter(username=DEMO_USER).exists():
            user_model.objects.create_superuser(DEMO_USER, "admin@example.com", DEMO_PASSWORD)
        self._seed_once(options["customers"])
        sim_port = settings.SIYU_SIMULATOR_PORT
        # The mall's SMS sign-in sends its codes to the simulator's SMS provider (read them at /sms/sim/inbox?phone=).
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "siyu.settings", "SIYU_DEMO": "1", "SIYU_PORT": str(port),
               "SIYU_ANALYTICS_PORT": str(settings.SIYU_ANALYTICS_PORT), "SIYU_ANALYTICS": "auto",
               "SIYU_SMS_BASE_URL": os.environ.get("SIYU_SMS_BASE_URL") or f"http://127.0.0.1:{sim_port}/sms"}
        manage = [sys.executable, "-m", "siyu.manage"]
        children = [
            subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env),  # noqa: S603
            subprocess.Popen([*manage, "worker", "--interval", "1"], env=env),  # noqa: S603
            subprocess.Popen([*manage, "scheduler"], env=env),  # noqa: S603
            subprocess.Popen([*manage, "analytics", "--port", str(settings.SIYU_ANALYTICS_PORT)], env=env),  # noqa: S603
            subprocess.Popen(  # noqa: S603
                [*manage, "simulate", "--port", str(sim_port), "--siyu-url", f"http://127.0.0.1:{port}",
                 "--transfer-delay", "300", "--confirm-delay", "60",
                 "--rate", os.environ.get("SIYU_DEMO_TRAFFIC_RATE", "0.5")],
                env=env,
            ),
        ]
        self._connect_official_account(sim_port, port)
        self.stdout.write(
            self.style.SUCCESS(
                f"Siyu demo on http://127.0.0.1:{port}/  login: {DEMO_USER} / {DEMO_PASSWORD}  (Ctrl-C stops)\n"
                f"  API docs http://127.0.0.1:{port}/api/docs · channel simulator http://127.0.0.1:{sim_port}/"
                f" · analytics engine 127.0.0.1:{settings.SIYU_ANALYTICS_PORT}"
            )
        )
        try:
            children[0].wait()
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()

    def _connect_official_account(self, sim_port: int, port: int) -> None:
        """The simulator keeps its state in memory: teach it the demo account's menu and QR scenes at every start."""
        enterprise = Enterprise.objects.filter(code=DEMO_ENTERPRISE).first()
        if enterprise is None:
            return
        point_demo_accounts_at(enterprise.pk, sim_port)
        try:  # the demo Pay merchant follows the ports too (and appears in a demo seeded before it existed)
            finance_demo.ensure_demo_merchant(enterprise.pk, sim_port=sim_port, siyu_port=port)
        except DomainError as exc:
            self.stderr.write(f"WeChat Pay demo merchant not set up: {exc}")
        url = f"http://127.0.0.1:{sim_port}/oa"
        if not wait_for_port(sim_port, seconds=90):
            self.stderr.write(f"The channel simulator is not listening on port {sim_port}")
        try:
            ensure_demo_account(enterprise_id=enterprise.pk, base_url=url)
        except DomainError as exc:
            self.stderr.write(f"Official Account demo account not set up: {exc}")
        self._teach_wecom_simulator(enterprise.pk)

    def _teach_wecom_simulator(self, enterprise_id: int) -> None:
        """The simulated WeCom forgets everything when it stops: tell it the staff, codes, relationships and groups
        this demo database holds, so inheritance and mass sends find every customer the console shows."""
        account = ChannelAccount.objects.filter(
            enterprise_id=enterprise_id, kind=AccountKind.WECOM, app_id=demo_accounts.WECOM.app_id
        ).first()
        if account is None:
            return
        try:
            sent = wecom_seed.teach_simulator(account.pk)
        except (httpx.HTTPError, RuntimeError) as exc:
            self.stderr.write(f"WeCom simulator not told the demo's relationships: {exc}")
            return
        self.stdout.write(
            f"WeCom simulator knows {sent['members']:,} staff, {sent['follows']:,} relationships"
            f" and {sent['chats']:,} groups from the demo database"
        )

    def _seed_once(self, customers: int) -> None:
        """Seed the demo enterprise the first time only; later runs keep whatever the demo database holds."""
        if Enterprise.objects.filter(code=DEMO_ENTERPRISE).exists():
            return
        self.stdout.write(f"Seeding the demo enterprise with {customers:,} customers (once)...")
        result = seed_enterprise(customers=customers, code=DEMO_ENTERPRISE,
                                 progress=Progress(write=self.stdout.write, every=2.0))
        self.stdout.write(
            f"Seeded {result.customers:,} customers and {result.events:,} events in {result.seconds:.1f}s"
        )


def wait_for_port(port: int, *, seconds: float) -> bool:
    """Whether something listens on 127.0.0.1:`port` within `seconds` (the simulator starts as a child process, and
    on a busy machine Django's start-up takes a while)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.25)
    return False


def point_demo_accounts_at(enterprise_id: int, sim_port: int) -> int:
    """The demo's channel accounts talk to the simulator on 127.0.0.1; a demo started again on another SIYU_PORT moves
    the simulator too, so their base URLs follow it (accounts pointed anywhere else are left alone)."""
    accounts = ChannelAccount.objects.filter(
        enterprise_id=enterprise_id, base_url__startswith="http://127.0.0.1:"
    )
    moved = 0
    for account_id, base_url in accounts.values_list("id", "base_url"):
        url = f"http://127.0.0.1:{sim_port}{urlsplit(base_url).path}"
        if url != base_url:
            moved += accounts.filter(pk=account_id).update(base_url=url)
    return moved
