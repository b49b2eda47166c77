"""The simulator drives follower traffic at a live Siyu over HTTP, signed and encrypted as the platform does."""

from __future__ import annotations

import random

import pytest

from simulator import oa as oa_sim
from simulator.state import current
from siyu.channels.models import InboundCallback
from siyu.channels.official_account import services
from siyu.channels.official_account.models import Follower, SceneHit
from siyu.customers.models import Event, Identity
from tests.channels.oa.conftest import DEMO

pytestmark = pytest.mark.django_db(transaction=True)


def test_simulated_followers_end_up_as_customers(org, sim, immediate_tasks, live_server) -> None:
    account = services.ensure_demo_account(enterprise_id=org.enterprise.pk, base_url=sim.base_url + "/oa")
    services.push_menu(account_id=account.pk, version=1)  # no on_commit capture here: push by hand
    app = current().oa.app(DEMO.app_id)
    assert app.account.mode == "safe"
    steps = 60
    accepted = oa_sim.drive_traffic(f"{live_server.url}/oa/callback/{account.pk}/", random.Random(7), steps,
                                    state=current().oa)
    assert accepted == steps
    statuses = list(InboundCallback.objects.values_list("status", flat=True))
    assert current().oa.resent > 0
    assert len(statuses) == steps - current().oa.resent  # a push sent again unchanged is acknowledged, not stored
    assert set(statuses) <= {"processed", "duplicate", "ignored"}
    followers = {f.openid: f for f in app.followers.values()}
    stored = {f.openid: f for f in Follower.objects.all()}
    assert set(stored) == set(followers)
    for openid, follower in stored.items():
        assert follower.subscribed == followers[openid].subscribed
        assert follower.unionid == followers[openid].unionid
        assert Identity.objects.get(kind="oa_openid", value=openid).customer_id == follower.customer_id
    # the convention shared with the WeCom simulator
    assert any(f.unionid.startswith("ou_demo_") for f in stored.values())
    follows = InboundCallback.objects.filter(event="subscribe", status="processed").count()
    assert Event.objects.filter(name="oa_followed").count() == follows
    assert SceneHit.objects.filter(kind="follow").count() == Event.objects.filter(
        name="oa_followed").exclude(properties__scene="").count()
