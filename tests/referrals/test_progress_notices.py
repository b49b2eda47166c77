"""Progress pushed to participants: when someone they brought counts (or their task completes) the scan records a
notice keyed `referral-progress:<campaign>:<participant>:<count>`, only for participants whose SMS consent allows it
and who have a phone; the worker sends each through the SMS sender with that key, outside any transaction, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from simulator import sms as sms_sim
from simulator.server import SimulatorServer
from simulator.state import reset
from siyu.channels.sms.models import SmsMessage
from siyu.customers import consent
from siyu.customers.models import Customer
from siyu.referrals import services
from siyu.referrals.models import ProgressNotice
from tests.conftest import Org
from tests.orders.helpers import Shop, build_shop
from tests.referrals.helpers import START, bring, campaign, join, new_customer, points_shop, scan

pytestmark = pytest.mark.django_db
DAY1 = START + timedelta(days=1)


@pytest.fixture
def provider(settings: Any) -> Iterator[sms_sim.SmsState]:
    state = reset().sms
    with SimulatorServer(port=0, mounts={"/sms": sms_sim.make_app(state)}) as server:
        settings.SIYU_SMS_BASE_URL = server.base_url + "/sms"
        yield state


@pytest.fixture
def shop(org: Org) -> Shop:
    return points_shop(build_shop(org))


def _reachable(shop: Shop, customer: Customer, phone: str) -> None:
    Customer.objects.filter(pk=customer.pk).update(phone=phone)
    consent.record(scope=shop.hq, customer_id=customer.pk, channel="sms", granted=True, method="storefront",
                   text="我同意接收品牌短信")


def test_counted_invitees_become_one_notice_per_new_count_sent_once(shop: Shop, provider: sms_sim.SmsState,
                                                                    settings: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    c = campaign(shop, kind="task", name="任务宝", target_count=2, window_days=7, reward_points=50)
    _reachable(shop, shop.customer, "13800000002")
    me = join(c, shop.customer, DAY1)
    silent = join(c, new_customer(shop, "未同意", DAY1), DAY1)
    for who, name in ((me, "友一"), (silent, "友二")):
        bring(shop, who, name, DAY1 + timedelta(hours=1))
    scan(shop, DAY1 + timedelta(hours=30))
    scan(shop, DAY1 + timedelta(hours=31))  # nothing new: no second notice for the same count
    assert list(ProgressNotice.objects.values_list("key", flat=True)) == [f"referral-progress:{c.pk}:{me.pk}:1"]
    bring(shop, me, "友三", DAY1 + timedelta(hours=2))
    scan(shop, DAY1 + timedelta(hours=32))
    assert sorted(ProgressNotice.objects.values_list("count", flat=True)) == [1, 2]
    assert services.send_progress_notices() == 2
    assert services.send_progress_notices() == 0  # sent: nothing pending
    texts = provider.inbox["13800000002"]
    assert len(texts) == 2
    assert "任务宝" in texts[0] and "已完成 1/2" in texts[0] and "还差 1 人" in texts[0]
    assert "奖励已解锁" in texts[1]
    assert set(SmsMessage.objects.values_list("key", flat=True)) == set(
        ProgressNotice.objects.values_list("key", flat=True))
    assert set(ProgressNotice.objects.values_list("status", flat=True)) == {"sent"}


def test_a_notice_whose_consent_was_withdrawn_before_sending_fails_unsent(shop: Shop,
                                                                          provider: sms_sim.SmsState) -> None:
    c = campaign(shop)
    _reachable(shop, shop.customer, "13800000003")
    me = join(c, shop.customer, DAY1)
    bring(shop, me, "友", DAY1 + timedelta(hours=1))
    scan(shop, DAY1 + timedelta(hours=30))
    consent.record(scope=shop.hq, customer_id=shop.customer.pk, channel="sms", granted=False, method="sms_reply")
    assert services.send_progress_notices() == 0
    assert ProgressNotice.objects.get().status == "failed"
    assert provider.inbox.get("13800000003", []) == []
