"""Shared by the issue-28 follow-up tests (links, rewards, winner, best hour, throttling): the SMS simulator and a
campaign created, planned and launched in one call."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from simulator.server import SimulatorServer
from simulator.state import Simulator, reset
from siyu.messaging import services
from siyu.messaging.models import Campaign
from siyu.messaging.services import CampaignInput
from siyu.org.scope import Scope
from tests.messaging.conftest import Accounts


@pytest.fixture
def sim(settings: Any) -> Iterator[Simulator]:
    state = reset()
    with SimulatorServer(port=0, simulator=state) as server:
        settings.SIYU_SMS_BASE_URL = server.base_url + "/sms"
        yield state


def sms_campaign(hq: Scope, accounts: Accounts, ids: list[int], text: str, *, launch: bool = True,
                 **kw: Any) -> Campaign:
    data = CampaignInput(name="双旦", audience_kind="list", customer_ids=ids, channels=["sms"],
                         content={"sms": text}, sms_sign="品牌", **kw)
    campaign = services.create_campaign(scope=hq, data=data)
    services.plan_campaign(scope=hq, campaign_id=campaign.pk)
    if launch:
        return services.launch_campaign(scope=hq, campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign
