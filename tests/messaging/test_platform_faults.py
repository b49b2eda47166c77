"""The platforms on a bad day (issue 25: "make the simulator return errors, timeouts, 45009 rate limits and 48009:
everything retries or fails visibly, nothing is lost, nothing doubles").

One campaign goes to customers reachable on WeCom, the Official Account and SMS through the simulator over HTTP,
with faults scripted in front of each platform (simulator.faults):

- the SMS provider answers 500, then takes the message but answers after the client's 5 s timeout, then 429;
- the OA template send answers -1 (system busy), then sends but loses its answer, then 45009 (daily quota);
- WeCom's add_msg_template answers 45009 (frequency limit), then creates the template but loses its answer;

and one follower has left the Official Account (43004). A second campaign runs after the corp's admin has closed
the mass-send API to this server (48009).

Counted at the platforms, not in Siyu's rows: each reachable recipient got exactly one message; nobody else got
any; the refused ones are `failed` with the platform's reason on their delivery (so the campaign's results show
them); every scripted fault was served.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from simulator import faults as faults_module
from simulator.server import SimulatorServer
from simulator.state import Simulator, reset
from simulator.wecom import Follow
from siyu.channels import demo_accounts
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.official_account import services as oa_services
from siyu.channels.official_account.models import SendStatus, TemplateSend
from siyu.channels.wecom import mass_sends, outbox
from siyu.channels.wecom.models import CallStatus, OutboundCall
from siyu.customers.models import Customer, Identity, IdentityKind
from siyu.messaging import services
from siyu.messaging.models import Campaign, Delivery
from siyu.messaging.services import CampaignInput
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.messaging.conftest import Clock
from tests.messaging.helpers import make_customer

CORP = "wwfaultcorp0001"
SMS_SEND = "/sms/send"
OA_SEND = "/oa/cgi-bin/message/template/send"
MASS = "/wecom/cgi-bin/externalcontact/add_msg_template"
OA = demo_accounts.OFFICIAL_ACCOUNT


@pytest.fixture
def world(settings: Any) -> Iterator[tuple[Simulator, SimulatorServer]]:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    state = reset()
    with SimulatorServer(port=0, simulator=state) as server:
        settings.SIYU_SMS_BASE_URL = server.base_url + "/sms"
        yield state, server


def _accounts(org: Org, sim: Simulator, server: SimulatorServer) -> tuple[ChannelAccount, ChannelAccount]:
    wecom = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="企微", app_id=CORP, agent_id="1000002",
        secret="fault-secret", token="faultToken", encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        base_url=f"{server.base_url}/wecom")
    sim.wecom.add_corp(corp_id=CORP, secret="fault-secret", token="faultToken",
                       encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", agent_id="1000002")
    for staff in (org.n1_staff, org.s1_staff):
        sim.wecom.add_member(CORP, staff.wecom_userid, staff.name)
    oa = oa_services.connect_account(enterprise_id=org.enterprise.pk, name="服务号", app_id=OA.app_id, secret=OA.secret,
                                     token=OA.token, encoding_aes_key=OA.encoding_aes_key,
                                     base_url=f"{server.base_url}/oa")
    return wecom, oa


def _wecom_customer(org: Org, sim: Simulator, staff: Any) -> Customer:
    """A customer who added `staff` on the (simulated) platform: Siyu's identity is the platform's external id."""
    customer = make_customer(org, wecom=staff)
    person = sim.wecom.new_person(CORP)
    Identity.objects.filter(customer=customer, kind=IdentityKind.WECOM_EXTERNAL_USERID).update(
        value=person.external_userid)
    with sim.wecom.lock:
        sim.wecom.corp(CORP).follows[(staff.wecom_userid, person.external_userid)] = Follow(
            userid=staff.wecom_userid, external_userid=person.external_userid, createtime=1_700_000_000)
    return customer


def _oa_customer(org: Org, sim: Simulator, *, subscribed: bool = True, phone: bool = False) -> Customer:
    customer = make_customer(org, oa=True, phone=phone, sms_consent=phone)
    openid = Identity.objects.get(customer=customer, kind=IdentityKind.OA_OPENID).value
    sim.oa.add_follower(OA.app_id, openid=openid, subscribed=subscribed)
    return customer


def _campaign(hq: Scope, wecom: ChannelAccount, oa: ChannelAccount, sim: Simulator, ids: list[int],
              name: str) -> Campaign:
    template = sim.oa.app(OA.app_id).templates[0]["template_id"]
    data = CampaignInput(name=name, audience_kind="list", customer_ids=ids,
                         channels=["wecom", "official_account", "sms"],
                         content={"wecom": f"{name}：门店上新", "official_account": f"{name}您好",
                                  "sms": f"{name}上新，回T退订"},
                         wecom_account_id=wecom.pk, oa_account_id=oa.pk, oa_template_id=template, sms_sign="品牌")
    campaign = services.create_campaign(scope=hq, data=data)
    services.plan_campaign(scope=hq, campaign_id=campaign.pk)
    return services.launch_campaign(scope=hq, campaign_id=campaign.pk)


def _run_until_settled(sim: Simulator, clock: Clock, campaign: Campaign) -> None:
    """The worker's periodic jobs, as `siyu scheduler` runs them, with the clock moving past each backoff; the staff
    confirm each mass message as it appears on their phones."""
    for _ in range(15):
        services.send_due()
        outbox.retry_due_calls()
        oa_services.retry_due_sends()
        for message in list(sim.wecom.corp(CORP).messages.values()):
            sim.wecom.confirm_mass_send(CORP, message.msgid)
        mass_sends.poll_open_mass_sends()
        services.send_due()
        campaign.refresh_from_db()
        busy = (OutboundCall.objects.exclude(status__in=[CallStatus.DONE, CallStatus.FAILED]).exists()
                or TemplateSend.objects.filter(status=SendStatus.PENDING).exists()
                or Delivery.objects.filter(campaign=campaign, channel="wecom", status="sent").exists())
        if campaign.status == "done" and not busy:
            return
        clock.tick(timedelta(minutes=10))
    raise AssertionError(f"campaign not settled: {Counter(Delivery.objects.values_list('status', flat=True))}")


def _wecom_received(sim: Simulator, text: str) -> Counter[str]:
    """External ids that a confirmed mass message with this text reached, counted per message (a repeat counts)."""
    got: Counter[str] = Counter()
    for message in sim.wecom.corp(CORP).messages.values():
        if message.text == text and message.confirmed:
            got.update(r for r, result in message.results.items() if result[1] == 1)
    return got


def _external_id(customer: Customer) -> str:
    return Identity.objects.get(customer=customer, kind=IdentityKind.WECOM_EXTERNAL_USERID).value


@pytest.mark.django_db(transaction=True)  # the outboxes hand calls to the worker after commit, as in production
def test_errors_timeouts_rate_limits_and_48009_retry_or_fail_visibly_and_nothing_doubles(
        org: Org, hq: Scope, clock: Clock, world: tuple[Simulator, SimulatorServer]) -> None:
    sim, server = world
    wecom, oa = _accounts(org, sim, server)
    on_wecom = [_wecom_customer(org, sim, org.n1_staff), _wecom_customer(org, sim, org.n1_staff),
                _wecom_customer(org, sim, org.s1_staff)]
    on_oa = [_oa_customer(org, sim) for _ in range(3)] + [_oa_customer(org, sim, phone=True)]  # OA comes first
    left_oa = _oa_customer(org, sim, subscribed=False)
    on_sms = [make_customer(org, phone=True, sms_consent=True) for _ in range(3)]
    server.faults.script(SMS_SEND, "http:500", "stall:6", "http:429")
    server.faults.script(OA_SEND, "errcode:-1", "lost", "errcode:45009")
    server.faults.script(MASS, "errcode:45009", "lost")

    everyone = [*on_wecom, *on_oa, left_oa, *on_sms]
    first = _campaign(hq, wecom, oa, sim, [c.pk for c in everyone], "双旦")
    _run_until_settled(sim, clock, first)

    assert server.faults.pending() == {}  # every scripted fault was met
    assert server.faults.count(SMS_SEND) >= 6 and server.faults.count(OA_SEND) >= 6
    # SMS: one message per consenting phone, whatever the provider did
    assert sorted(sim.sms.inbox) == sorted(c.phone for c in on_sms)
    assert all(sim.sms.messages(c.phone) == ["【品牌】双旦上新，回T退订"] for c in on_sms)
    # the Official Account: one template message per follower, none to the one who left
    sent = Counter(s["touser"] for s in sim.oa.app(OA.app_id).template_sends)
    openids = {c.pk: Identity.objects.get(customer=c, kind=IdentityKind.OA_OPENID).value for c in [*on_oa, left_oa]}
    assert sent == Counter(openids[c.pk] for c in on_oa)
    # WeCom: each customer reached by exactly one confirmed mass message (the lost answer was found, not resent)
    assert _wecom_received(sim, "双旦：门店上新") == Counter(_external_id(c) for c in on_wecom)
    assert len([m for m in sim.wecom.corp(CORP).messages.values() if m.text == "双旦：门店上新"]) == 2  # per staff
    rows = {d.customer_id: d for d in Delivery.objects.filter(campaign=first)}
    assert {c.pk: rows[c.pk].channel for c in everyone} == {
        **{c.pk: "wecom" for c in on_wecom}, **{c.pk: "official_account" for c in [*on_oa, left_oa]},
        **{c.pk: "sms" for c in on_sms}}
    assert {rows[c.pk].status for c in on_wecom} == {"confirmed"}
    assert {rows[c.pk].status for c in on_sms} <= {"sent", "delivered"}
    assert {rows[c.pk].status for c in on_oa} <= {"sent", "delivered"}
    assert rows[left_oa.pk].status == "failed" and "43004" in rows[left_oa.pk].error

    # The admin closes the mass-send API to this server: the next campaign's WeCom sends fail, visibly, and nothing
    # reaches anyone through WeCom.
    with sim.wecom.lock:
        sim.wecom.corp(CORP).refused["/cgi-bin/externalcontact/add_msg_template"] = 48009
    later = [_wecom_customer(org, sim, org.n1_staff), _wecom_customer(org, sim, org.s1_staff)]
    second = _campaign(hq, wecom, oa, sim, [c.pk for c in later], "年货")
    _run_until_settled(sim, clock, second)
    assert _wecom_received(sim, "年货：门店上新") == Counter()
    refused = list(Delivery.objects.filter(campaign=second).values_list("status", "error"))
    assert refused == [("failed", "errcode 48009")] * 2


def test_faults_are_scripted_over_http_and_refused_when_unknown(world: tuple[Simulator, SimulatorServer]) -> None:
    _, server = world
    control = f"{server.base_url}{faults_module.CONTROL}"
    assert httpx.post(control, json={"path": SMS_SEND, "faults": ["explode"]}).status_code == 400
    assert httpx.post(control, json={"path": SMS_SEND, "faults": ["http:200"]}).status_code == 400
    assert httpx.post(control, json={"path": SMS_SEND}).status_code == 400
    assert httpx.post(control, json={"path": SMS_SEND, "faults": ["http:503", "lost"]}).json() == {
        "pending": {SMS_SEND: ["http:503", "lost"]}}
    body = {"phone": "13800000001", "sign": "品牌", "text": "hi", "key": "k1"}
    assert httpx.post(f"{server.base_url}{SMS_SEND}", json=body).status_code == 503
    with pytest.raises(httpx.RemoteProtocolError):  # the answer is cut short...
        httpx.post(f"{server.base_url}{SMS_SEND}", json=body)
    again = httpx.post(f"{server.base_url}{SMS_SEND}", json=body)  # ...but the provider took the message: once
    assert again.status_code == 200 and again.json()["code"] == "OK"
    assert len(server.simulator.sms.messages("13800000001")) == 1
    served = json.loads(httpx.get(control).text)["served"]
    assert [f for p, f in served if p == SMS_SEND] == ["http:503", "lost", "ok"]

