"""A demo started again on another port moves its simulator: the demo's channel accounts follow it."""

from __future__ import annotations

import pytest

from siyu.channels.models import ChannelAccount
from siyu.seed.management.commands.demo import point_demo_accounts_at
from tests.factories import EnterpriseFactory

pytestmark = pytest.mark.django_db


def _account(enterprise_id: int, kind: str, app_id: str, base_url: str) -> ChannelAccount:
    account = ChannelAccount(enterprise_id=enterprise_id, kind=kind, name=kind, app_id=app_id, callback_token="t",
                             base_url=base_url)
    account.secret = "s"
    account.save()
    return account


def test_loopback_accounts_follow_the_simulator_and_real_ones_stay() -> None:
    ours, other = EnterpriseFactory.create(code="demo-x"), EnterpriseFactory.create(code="other-x")
    wecom = _account(ours.pk, "wecom", "wwdemo", "http://127.0.0.1:8001/wecom")
    mall = _account(ours.pk, "miniprogram", "wxmall", "http://127.0.0.1:8001/mp")
    real = _account(ours.pk, "official_account", "wxreal", "https://api.weixin.qq.com")
    elsewhere = _account(other.pk, "wecom", "wwother", "http://127.0.0.1:8001/wecom")
    assert point_demo_accounts_at(ours.pk, 18801) == 2
    assert point_demo_accounts_at(ours.pk, 18801) == 0  # already there
    urls = dict(ChannelAccount.objects.values_list("id", "base_url"))
    assert urls == {
        wecom.pk: "http://127.0.0.1:18801/wecom",
        mall.pk: "http://127.0.0.1:18801/mp",
        real.pk: "https://api.weixin.qq.com",
        elsewhere.pk: "http://127.0.0.1:8001/wecom",
    }
