from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory, StepTickTimeFactory, TickingDateTimeFactory

from siyu.channels.models import AccountKind, ChannelAccount
from siyu.org.scope import Scope
from tests.conftest import Org

# 2026-12-20 10:00 in Shanghai (02:00 UTC): outside the default quiet hours (21:00-09:00)
MORNING = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)
Clock = FrozenDateTimeFactory | StepTickTimeFactory | TickingDateTimeFactory


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clock() -> Iterator[Clock]:
    with freeze_time(MORNING) as frozen:
        yield frozen


@dataclass
class Accounts:
    wecom: ChannelAccount
    oa: ChannelAccount


@pytest.fixture
def accounts(org: Org) -> Accounts:
    wecom = ChannelAccount.objects.create(enterprise=org.enterprise, kind=AccountKind.WECOM, name="企微",
                                          app_id="wwcampaigns", agent_id="1000002", callback_token="t",
                                          base_url="http://127.0.0.1:1/wecom")
    oa = ChannelAccount.objects.create(enterprise=org.enterprise, kind=AccountKind.OFFICIAL_ACCOUNT, name="服务号",
                                       app_id="wxcampaigns", callback_token="t", base_url="http://127.0.0.1:1/oa")
    return Accounts(wecom=wecom, oa=oa)


@pytest.fixture
def hq(org: Org) -> Scope:
    return Scope.hq(org.enterprise.pk)
