"""A mass-send template whose answer is lost (a timeout after WeCom created it) is found, not sent twice; one that
WeCom never created is sent on the retry, once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from siyu.channels.wecom import mass_sends, outbox
from siyu.channels.wecom.client import NETWORK_ERROR, RetryableError, WecomClient
from siyu.channels.wecom.models import CallStatus, MassSendSender, OutboundCall, SenderStatus
from siyu.core.timeutil import now
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_mass_send import _cid, _customers, _hq

pytestmark = pytest.mark.django_db(transaction=True)

Performer = Callable[[WecomClient, dict[str, Any]], dict[str, Any]]


def _lose_the_answer(real: Performer) -> Performer:
    def run(client: WecomClient, payload: dict[str, Any]) -> dict[str, Any]:
        real(client, payload)  # WeCom creates the template...
        raise RetryableError(NETWORK_ERROR, "timeout: read timed out")  # ...and the answer never arrives

    return run


def _never_arrive(client: WecomClient, payload: dict[str, Any]) -> dict[str, Any]:
    raise RetryableError(NETWORK_ERROR, "timeout: connect timed out")


def _send_with_first_try(w: Wecom, monkeypatch: pytest.MonkeyPatch, first_try: Performer, text: str) -> OutboundCall:
    a, b = _customers(w, 2)
    real = outbox.PERFORMERS["add_msg_template"]
    monkeypatch.setitem(outbox.PERFORMERS, "add_msg_template", first_try)
    mass_sends.create_mass_send(
        scope=_hq(w), account_id=w.account.pk, kind="single", sender_ids=[w.org.n1_staff.pk], name=text,
        customer_ids=[_cid(a), _cid(b)], text=text, submit=True,
    )
    call = OutboundCall.objects.get(method="add_msg_template")
    assert call.status == CallStatus.RETRYING
    monkeypatch.setitem(outbox.PERFORMERS, "add_msg_template", real)
    OutboundCall.objects.filter(pk=call.pk).update(next_attempt_at=now() - timedelta(seconds=1))
    assert outbox.execute_call(call_id=call.pk) == "done"
    call.refresh_from_db()
    return call


def _templates(w: Wecom, text: str) -> list[str]:
    return [m.msgid for m in w.platform.corps[CORP_ID].messages.values() if m.text == text]


def test_a_template_created_but_unacknowledged_is_recovered_not_resent(
    wecom: Wecom, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = outbox.PERFORMERS["add_msg_template"]
    call = _send_with_first_try(wecom, monkeypatch, _lose_the_answer(real), "周末上新")
    [msgid] = _templates(wecom, "周末上新")  # one template on the platform, not two
    assert call.result == {"msgid": msgid, "fail_list": [], "recovered": True}
    sender = MassSendSender.objects.get()
    assert (sender.msgid, sender.status) == (msgid, SenderStatus.WAITING)


def test_a_template_never_created_is_sent_once_on_the_retry(wecom: Wecom, monkeypatch: pytest.MonkeyPatch) -> None:
    call = _send_with_first_try(wecom, monkeypatch, _never_arrive, "会员日")
    [msgid] = _templates(wecom, "会员日")
    assert call.result.get("msgid") == msgid and "recovered" not in call.result
    assert MassSendSender.objects.get().msgid == msgid
