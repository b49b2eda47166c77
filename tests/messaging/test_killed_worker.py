"""A real worker process (`siyu worker`) killed with SIGKILL in the middle of a campaign's SMS sends, then started
again: the simulator's inbox holds exactly one message per recipient (no duplicate, no loss). PostgreSQL only: the
worker is another process and needs the test database on a server (SQLite's test database is in memory)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from simulator.server import SimulatorServer
from simulator.sms import SmsState, make_app
from siyu.messaging import services
from siyu.messaging.models import Delivery
from siyu.messaging.services import CampaignInput
from siyu.messaging.tasks import send_due_task
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.messaging.helpers import make_customer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 40


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the test database on a server")


class SlowSms:
    """The simulator's SMS provider, 60 ms a send, counting every POST it receives (repeats included)."""

    def __init__(self) -> None:
        self.state = SmsState()
        self.posts = 0
        self._app = make_app(self.state)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/send":
            self.posts += 1
            time.sleep(0.06)
        return self._app(environ, start_response)

    def delivered(self) -> int:
        return sum(len(v) for v in self.state.inbox.values())


@pytest.fixture
def sms() -> Iterator[tuple[SlowSms, str]]:
    provider = SlowSms()
    with SimulatorServer(port=0, mounts={"/sms": provider}) as server:
        yield provider, server.base_url + "/sms"


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "siyu.manage", "worker", "--interval", "0.2",  # noqa: S603
                                 "--status-every", "0"], env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_worker_killed_mid_send_leaves_no_duplicate_and_no_loss(org: Org, sms: tuple[SlowSms, str],
                                                                  settings: Any, tmp_path: Path) -> None:
    provider, base_url = sms
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "siyu.settings", "PYTHONPATH": str(ROOT),
           "SIYU_DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "SIYU_SMS_BASE_URL": base_url, "SIYU_CAMPAIGN_LEASE_S": "2"}
    hq = Scope.hq(org.enterprise.pk)
    services.set_policy(scope=hq, values={"quiet_start_hour": 0, "quiet_end_hour": 0})  # real time: no quiet hours
    people = [make_customer(org, phone=True, sms_consent=True) for _ in range(RECIPIENTS)]
    campaign = services.create_campaign(scope=hq, data=CampaignInput(
        name="kill", audience_kind="list", customer_ids=[c.pk for c in people], channels=["sms"],
        content={"sms": "{name}，年终回馈"}, sms_sign="品牌"))
    services.plan_campaign(scope=hq, campaign_id=campaign.pk)
    services.launch_campaign(scope=hq, campaign_id=campaign.pk)  # enqueues the send job on commit

    first = _worker(env, tmp_path / "worker1.log")
    try:
        assert _wait(lambda: provider.delivered() >= 10, 60), (tmp_path / "worker1.log").read_text()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    stranded = Delivery.objects.filter(campaign=campaign, status="sending").count()
    assert stranded > 0  # killed inside the batch: rows claimed and not (all) recorded
    assert provider.delivered() < RECIPIENTS

    second = _worker(env, tmp_path / "worker2.log")
    try:
        time.sleep(2.1)  # the dead worker's lease runs out
        send_due_task.enqueue()  # what the periodic scheduler does every 15 s
        assert _wait(lambda: Delivery.objects.filter(campaign=campaign, status="sent").count() == RECIPIENTS, 90), \
            (tmp_path / "worker2.log").read_text()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)

    for person in people:
        assert len(provider.state.messages(person.phone)) == 1, person.phone
    assert provider.delivered() == RECIPIENTS
    assert provider.posts >= RECIPIENTS
