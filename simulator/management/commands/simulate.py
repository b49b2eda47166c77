"""`siyu simulate`: the channel simulator (WeCom under /wecom, Official Account under /oa, mini-program under /mp,
WeChat Pay under /pay) and a steady trickle of simulated customers acting on them, posted to Siyu's callback URLs as
the platforms do. The command makes the simulator's state object (simulator.state.Simulator) and installs it."""

from __future__ import annotations

import random
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from simulator import oa, state, wecom
from simulator.server import SimulatorServer
from simulator.state import Simulator
from siyu.channels import demo_accounts
from siyu.channels import queries as channel_queries
from siyu.channels.models import AccountKind


class Command(BaseCommand):
    help = "Run the WeCom and Official Account simulator on 127.0.0.1 with simulated customer traffic."
    simulator: Simulator

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.SIYU_SIMULATOR_PORT)
        parser.add_argument("--siyu-url", default=f"http://127.0.0.1:{settings.SIYU_PORT}")
        parser.add_argument("--rate", type=float, default=0.5, help="simulated customer actions per second (0: none)")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--steps", type=int, default=0, help="stop after this many actions (0: run until Ctrl-C)")
        parser.add_argument(
            "--transfer-delay", type=int, default=86400, help="seconds until a WeCom transfer completes (24 h)"
        )
        parser.add_argument(
            "--confirm-delay", type=float, default=-1,
            help="seconds after which a sender confirms a mass message by itself (the demo's staff; -1: never)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.simulator = state.install(Simulator())
        self.simulator.wecom.limits.transfer_delay_s = options["transfer_delay"]
        if options["confirm_delay"] >= 0:
            self.simulator.wecom.limits.mass_auto_confirm_s = options["confirm_delay"]
        # The demo corp exists from the start, so Siyu's demo can tell it what it knows (POST /wecom/_sim/import).
        self.simulator.wecom.add_demo_corp(demo_accounts.WECOM)
        pay = demo_accounts.PAY_MERCHANT  # the demo's Pay merchant (Siyu's demo seed connects it)
        self.simulator.wechatpay.register_known_merchant(
            mch_id=pay.mch_id, app_id=pay.app_id, apiv3_key=pay.apiv3_key, merchant_serial=pay.merchant_serial_no,
            merchant_private_pem=pay.merchant_private_key, platform_private_pem=pay.platform_private_key,
            platform_key_id=pay.platform_key_id)
        # The SMS provider posts delivery receipts and replies to Siyu's SMS callback, signed with the demo secret.
        self.simulator.sms.callback_url = f"{options['siyu_url'].rstrip('/')}/channels/sms/callback/"
        self.simulator.sms.auto_deliver = True
        server = SimulatorServer(port=options["port"], simulator=self.simulator).start()
        self.stdout.write(self.style.SUCCESS(f"Simulator on {server.base_url} (/wecom, /oa, /mp, /pay)"))
        rng = random.Random(options["seed"])  # noqa: S311 - simulated behaviour
        siyu_url = options["siyu_url"].rstrip("/")
        rate, limit = options["rate"], options["steps"]
        done = 0
        try:
            while limit == 0 or done < limit:
                self.simulator.wecom.process_due()  # transfers due, mass messages the demo's staff confirm
                self.simulator.wecom.deliver()
                if rate <= 0:
                    time.sleep(1)
                    continue
                self._step(siyu_url, rng)
                done += 1
                if done % 50 == 0:
                    self.stdout.write(f"{done} simulated actions")
                time.sleep(1 / rate)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()

    def _step(self, siyu_url: str, rng: random.Random) -> None:
        wecom_account = channel_queries.find_account(kind=AccountKind.WECOM, app_id=demo_accounts.WECOM.app_id)
        oa_account = channel_queries.find_account(
            kind=AccountKind.OFFICIAL_ACCOUNT, app_id=demo_accounts.OFFICIAL_ACCOUNT.app_id
        )
        choices = []
        if wecom_account is not None:
            choices.append("wecom")
        if oa_account is not None:
            choices.append("oa")
        if not choices:
            return
        if rng.choice(choices) == "wecom" and wecom_account is not None:
            url = f"{siyu_url}/channels/wecom/callback/{wecom_account.pk}/"
            wecom.drive_traffic(url, demo_accounts.WECOM, rng, 1, platform=self.simulator.wecom)
        elif oa_account is not None:
            oa.drive_traffic(f"{siyu_url}/oa/callback/{oa_account.pk}/", rng, 1, state=self.simulator.oa)
