"""A mass send honours marketing consent: a customer who withdrew WeCom consent, or whose personal data was erased,
is not a recipient (counted as left out), and the simulator's message names only the others."""

from __future__ import annotations

import pytest

from siyu.channels.wecom import mass_sends
from siyu.channels.wecom.models import MassSendSender
from siyu.customers import consent, personal_data
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_mass_send import _cid, _customers

pytestmark = pytest.mark.django_db(transaction=True)


def test_withdrawn_and_erased_customers_are_left_out(wecom: Wecom) -> None:
    a, b, c, d = _customers(wecom, 4)
    hq = Scope.hq(wecom.org.enterprise.pk)
    consent.record(scope=hq, customer_id=_cid(b), channel="wecom", granted=False, method="operator",
                   text="客户在门店要求不再接收企业微信消息")
    consent.record(scope=hq, customer_id=_cid(d), channel="sms", granted=False, method="sms_reply")  # another channel
    erased = _cid(c)
    personal_data.erase(scope=hq, customer_id=erased, reason="PIPL request 7", confirm=erased)

    mass_send = mass_sends.create_mass_send(
        scope=hq, account_id=wecom.account.pk, kind="single", sender_ids=[wecom.org.n1_staff.pk], name="周末活动",
        customer_ids=[_cid(a), _cid(b), erased, _cid(d)], text="周末到店有礼", submit=True,
    )
    mass_send.refresh_from_db()
    assert (mass_send.recipient_total, mass_send.excluded_count) == (2, 2)
    sender = MassSendSender.objects.get(mass_send=mass_send)
    assert sorted(wecom.platform.corps[CORP_ID].messages[sender.msgid].recipients) == sorted([a, d])
