"""Throttling (issue 28): the sender claims at most the enterprise's per-channel rate in each minute window, counted
from what was claimed since the window began, so two sender runs in the same window share one allowance; defaults
come from the platforms' published limits; bad rates are refused with the field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulator.state import Simulator
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.messaging import services
from siyu.messaging.models import ContactPolicy, Delivery
from siyu.org.scope import Scope, scope_for_staff
from tests.conftest import Org
from tests.messaging.conftest import Accounts, Clock
from tests.messaging.helpers import make_customer
from tests.messaging.kit import sim, sms_campaign

__all__ = ["sim"]


def test_the_rate_holds_across_two_runs_in_one_window(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                      sim: Simulator) -> None:
    services.set_policy(scope=hq, values={"send_rates": {"sms": 3}})
    people = [make_customer(org, phone=True, sms_consent=True) for _ in range(8)]
    sms_campaign(hq, accounts, [c.pk for c in people], "hi")
    assert services.send_due() == 3  # 02:00:00: the window's 3
    clock.tick(timedelta(seconds=20))
    assert services.send_due() == 0  # 02:00:20: a second run in the same window gets nothing
    assert sum(len(sim.sms.messages(c.phone)) for c in people) == 3
    clock.tick(timedelta(seconds=40))
    assert services.send_due() == 3  # 02:01:00: a new window
    clock.tick(timedelta(seconds=60))
    assert services.send_due() == 2
    assert Delivery.objects.filter(status="sent").count() == 8
    assert sorted(len(sim.sms.messages(c.phone)) for c in people) == [1] * 8


def test_rates_are_hq_s_and_checked(org: Org, hq: Scope) -> None:
    assert services.send_rate(ContactPolicy(enterprise_id=org.enterprise.pk), "sms") == 300_000  # 5,000 QPS
    with pytest.raises(ValidationFailed) as bad:
        services.set_policy(scope=hq, values={"send_rates": {"sms": 0}})
    assert (bad.value.field, bad.value.code) == ("send_rates.sms", "out_of_range")
    with pytest.raises(ValidationFailed) as unknown:
        services.set_policy(scope=hq, values={"send_rates": {"fax": 3}})
    assert unknown.value.code == "invalid_choice"
    with pytest.raises(PermissionDenied):
        services.set_policy(scope=scope_for_staff(org.n1_manager), values={"send_rates": {"sms": 3}})
    policy = services.set_policy(scope=hq, values={"send_rates": {"sms": 120, "wecom": ""}})
    assert policy.send_rates == {"sms": 120}
    assert services.send_rate(policy, "wecom") == 10_000


def test_send_rates_through_the_api(org: Org) -> None:
    from django.test import Client

    client = Client()
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    put = client.put("/api/campaigns/send-rates", {"sms": 600}, content_type="application/json")
    assert put.status_code == 200, put.content
    assert put.json() == {"rates": {"wecom": 10_000, "official_account": 10_000, "sms": 600}, "custom": {"sms": 600}}
    bad = client.put("/api/campaigns/send-rates", {"sms": 0}, content_type="application/json")
    assert bad.status_code == 422
    assert client.get("/api/campaigns/send-rates").json()["custom"] == {"sms": 600}
