"""send_sms against the simulated provider, its receipts over real HTTP, and replies (TD withdraws SMS consent)."""

from __future__ import annotations

import pytest
from pytest_django.live_server_helper import LiveServer

from simulator import sms as sms_sim
from siyu.channels.sms import services
from siyu.channels.sms.models import SmsMessage, SmsReply
from siyu.core.errors import Conflict, ValidationFailed
from siyu.customers import consent
from siyu.customers.models import Consent, Customer, Event
from tests.channels.sms.conftest import customer
from tests.conftest import Org
from tests.factories import EnterpriseFactory


def _send(org: Org, phone: str, key: str, customer_id: int | None = None, **kw: object) -> SmsMessage:
    return services.send_sms(enterprise_id=org.enterprise.pk, customer_id=customer_id, phone=phone,
                             text=str(kw.get("text", "双十二会员日，全场8折")), key=key,
                             purpose=str(kw.get("purpose", "notice")))


@pytest.mark.django_db(transaction=True)
def test_simulator_receipts_reach_siyu_over_http_twice_and_out_of_order(org: Org, provider: sms_sim.SmsState,
                                                                        live_server: LiveServer) -> None:
    provider.callback_url = f"{live_server.url}/channels/sms/callback/"
    provider.failing = {"13800000002"}
    provider.duplicate_receipts = True
    seen: list[tuple[str, str]] = []
    services.register_receipt_hook(lambda u: seen.append((u.key, u.status)), name="test.http")
    try:
        good, bad = _send(org, "13800000001", "c1:1"), _send(org, "13800000002", "c1:2")
        assert (good.status, bad.status) == ("sent", "sent")
        assert provider.flush_receipts(reverse=True) == 4  # each reported twice, newest first
    finally:
        services._RECEIPT_HOOKS.pop("test.http")
    assert [status for _, status in provider.delivered] == [200, 200, 200, 200]
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, good.error, good.provider_message_id) == ("delivered", "", "sms00000001")
    assert (bad.status, bad.error, bad.provider_message_id) == ("failed", "MK:0001", "sms00000002")
    assert sorted(seen) == [("c1:1", "delivered"), ("c1:1", "sent"), ("c1:2", "failed"), ("c1:2", "sent")]


@pytest.mark.django_db(transaction=True)
def test_a_td_reply_over_http_withdraws_sms_consent_for_every_customer_with_that_number(
        org: Org, provider: sms_sim.SmsState, live_server: LiveServer) -> None:
    provider.callback_url = f"{live_server.url}/channels/sms/callback/"
    phone = "13800000003"
    first, second = customer(org.enterprise, phone), customer(org.enterprise, phone)
    other_brand = EnterpriseFactory.create(code="other-brand", name="Other", wecom_corp_id="wwother")
    elsewhere = customer(other_brand, phone)  # another brand's customer: not theirs to withdraw
    other = customer(org.enterprise, "13800000004")
    _send(org, phone, "c2:1", first.pk, purpose="marketing")
    message_id, status = provider.reply(phone, " ＴＤ ")  # full-width, padded: still TD
    assert status == 200
    allowed = set(Customer.objects.filter(consent.allowed_filter("sms", customer_ref="pk")).values_list("pk",
                                                                                                       flat=True))
    assert allowed == {elsewhere.pk, other.pk}
    withdrawals = Consent.objects.filter(granted=False, method="sms_reply")
    assert sorted(withdrawals.values_list("customer_id", flat=True)) == sorted([first.pk, second.pk])
    assert {c.evidence["message_id"] for c in withdrawals} == {message_id}
    assert Event.objects.filter(name="message_received", channel="sms", customer_id=first.pk).count() == 1
    # The provider delivers the same reply again (a retry signs anew): nothing more is written.
    body = (b'{"type": "reply", "message_id": "%s", "phone": "%s", "text": "TD", "reply_to": "", '
            b'"received_at": "2026-12-07T08:00:00Z"}' % (message_id.encode(), phone.encode()))
    assert provider.post(body) == 200
    assert withdrawals.count() == 2 and SmsReply.objects.count() == 1
    with pytest.raises(Conflict) as refused:  # marketing to that number is refused from now on
        _send(org, phone, "c2:2", second.pk, purpose="marketing")
    assert refused.value.code == "no_consent"


@pytest.mark.django_db
def test_opt_out_words(org: Org) -> None:
    for text in ("TD", "td", " t ", "N", "退订", "取消", "Unsubscribe", "STOP", "ｓｔｏｐ", "ＴＤ\n", "R"):
        assert services.is_opt_out(text), text
    for text in ("", "TD please", "谢谢", "no", "退订了吗"):
        assert not services.is_opt_out(text), text


@pytest.mark.django_db
def test_another_reply_is_stored_and_shown_without_touching_consent(client: object, org: Org,
                                                                    provider: sms_sim.SmsState) -> None:
    from tests.channels.sms.conftest import post

    buyer = customer(org.enterprise, "13800000005")
    sent = _send(org, "13800000005", "c3:1", buyer.pk, purpose="marketing")
    body = {"type": "reply", "message_id": "mo77", "phone": "13800000005", "text": "请问几点开门？",
            "reply_to": sent.provider_message_id, "received_at": "2026-12-07T08:00:00Z"}
    assert post(client, body).status_code == 200  # type: ignore[arg-type]
    reply = SmsReply.objects.get()
    assert (reply.opt_out, reply.reply_to_id, reply.customers) == (False, sent.pk, 1)
    event = Event.objects.get(name="message_received", customer_id=buyer.pk)
    assert event.properties == {"kind": "sms", "text": "请问几点开门？"}
    assert Consent.objects.filter(customer_id=buyer.pk, granted=False).count() == 0


@pytest.mark.django_db
def test_a_repeated_key_is_one_message_and_a_sent_one_is_never_resent(org: Org, provider: sms_sim.SmsState) -> None:
    first = _send(org, "13800000006", "k:1")
    again = _send(org, "13800000006", "k:1", text="different text")
    assert first.pk == again.pk and again.status == "sent"
    assert provider.messages("13800000006") == [f"【{org.enterprise.name[:20]}】双十二会员日，全场8折"]


@pytest.mark.django_db
def test_an_unreachable_provider_leaves_it_queued_and_a_retry_sends_once(org: Org, provider: sms_sim.SmsState,
                                                                         settings: object) -> None:
    real = settings.SIYU_SMS_BASE_URL  # type: ignore[attr-defined]
    settings.SIYU_SMS_BASE_URL = "http://127.0.0.1:9/sms"  # type: ignore[attr-defined]  # nothing listens there
    waiting = _send(org, "13800000007", "k:2")
    assert (waiting.status, waiting.attempts) == ("queued", 1) and "unreachable" in waiting.error
    settings.SIYU_SMS_BASE_URL = real  # type: ignore[attr-defined]
    done = _send(org, "13800000007", "k:2")
    assert (done.pk, done.status, done.attempts, done.error) == (waiting.pk, "sent", 2, "")
    assert len(provider.messages("13800000007")) == 1


@pytest.mark.django_db
def test_bad_input_and_missing_consent_are_refused_before_anything_is_written(org: Org,
                                                                             provider: sms_sim.SmsState) -> None:
    for phone, text, key, purpose, field in (("12345", "hi", "a", "notice", "phone"),
                                             ("13800000008", "", "a", "notice", "text"),
                                             ("13800000008", "x" * 501, "a", "notice", "text"),
                                             ("13800000008", "hi", "", "notice", "key"),
                                             ("13800000008", "hi", "a", "spam", "purpose")):
        with pytest.raises(ValidationFailed) as bad:
            services.send_sms(enterprise_id=org.enterprise.pk, customer_id=None, phone=phone, text=text, key=key,
                              purpose=purpose)
        assert bad.value.field == field
    never_asked = customer(org.enterprise, "13800000008", granted=False)
    with pytest.raises(Conflict):
        _send(org, "13800000008", "k:3", never_asked.pk, purpose="marketing")
    assert SmsMessage.objects.count() == 0 and provider.messages("13800000008") == []
