"""Console for the issue-28 follow-ups: the send-rates card is HQ's."""

from __future__ import annotations

from django.test import Client

from siyu.messaging.models import ContactPolicy
from siyu.org.models import Staff
from tests.conftest import Org
from tests.messaging.kit import sim

__all__ = ["sim"]


def _client(staff: Staff) -> Client:
    client = Client()
    assert staff.user is not None
    client.force_login(staff.user)
    return client


def test_the_send_rates_card_is_hq_s(org: Org) -> None:
    hq = _client(org.hq)
    assert 'id="send-rates"' in hq.get("/campaigns/").content.decode()
    assert hq.post("/campaigns/send-rates/", {"rate_sms": "120", "rate_wecom": ""}).status_code == 302
    assert ContactPolicy.objects.get(enterprise=org.enterprise).send_rates == {"sms": 120}
    manager = _client(org.n1_manager)
    assert 'id="send-rates"' not in manager.get("/campaigns/").content.decode()
    assert manager.post("/campaigns/send-rates/", {"rate_sms": "5"}).status_code == 403
    assert ContactPolicy.objects.get(enterprise=org.enterprise).send_rates == {"sms": 120}
