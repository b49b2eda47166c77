"""Sending through the simulator: SMS over HTTP (keyed), the Official Account's keyed outbox row, one WeCom mass send
per owning staff; retries with backoff; results per variant and conversions first/last touch."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator.server import SimulatorServer
from simulator.state import Simulator, reset
from siyu.channels.official_account.models import TemplateSend
from siyu.channels.wecom.models import MassSend, MassSendRecipient
from siyu.messaging import queries, services
from siyu.messaging.models import Campaign, Conversion, Delivery
from siyu.messaging.services import CampaignInput
from siyu.orders import hooks
from siyu.orders.models import Order
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.messaging.conftest import Accounts, Clock
from tests.messaging.helpers import make_customer


@pytest.fixture
def sim(settings: Any) -> Iterator[Simulator]:
    state = reset()
    with SimulatorServer(port=0, simulator=state) as server:
        settings.SIYU_SMS_BASE_URL = server.base_url + "/sms"
        yield state


def _launch(hq: Scope, accounts: Accounts, ids: list[int], channels: list[str], **kw: Any) -> Campaign:
    texts = {"sms": "{name}，{store}双旦上新", "official_account": "{name}您好",
             "wecom": "我是{staff_name}，{store}上新了"}
    data = CampaignInput(name="双旦", audience_kind="list", customer_ids=ids, channels=channels,
                         content={c: texts[c] for c in channels}, wecom_account_id=accounts.wecom.pk,
                         oa_account_id=accounts.oa.pk, oa_template_id="TPL1", sms_sign="品牌", **kw)
    campaign = services.create_campaign(scope=hq, data=data)
    services.plan_campaign(scope=hq, campaign_id=campaign.pk)
    return services.launch_campaign(scope=hq, campaign_id=campaign.pk)


def test_sms_reaches_each_recipient_once_personalised(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                      sim: Simulator) -> None:
    a = make_customer(org, name="王芳", phone=True, sms_consent=True)
    b = make_customer(org, name="李雷", phone=True, sms_consent=True)
    campaign = _launch(hq, accounts, [a.pk, b.pk], ["sms"])
    assert services.send_due() == 2
    assert services.send_due() == 0
    assert sim.sms.messages(a.phone) == ["【品牌】王芳，Beijing 1双旦上新"]
    assert sim.sms.messages(b.phone) == ["【品牌】李雷，Beijing 1双旦上新"]
    campaign.refresh_from_db()
    assert campaign.status == "done"
    assert queries.progress(hq, campaign.pk)["sent"] == 2


def test_a_provider_outage_is_retried_with_backoff(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                   sim: Simulator, settings: Any) -> None:
    working = settings.SIYU_SMS_BASE_URL
    settings.SIYU_SMS_BASE_URL = "http://127.0.0.1:9/sms"  # nothing listens: a retryable error
    a = make_customer(org, phone=True, sms_consent=True)
    _launch(hq, accounts, [a.pk], ["sms"])
    services.send_due()
    row = Delivery.objects.get(customer=a)
    assert (row.status, row.attempts, row.next_attempt_at) == ("planned", 1, datetime(2026, 12, 20, 2, 0, 30,
                                                                                       tzinfo=UTC))
    settings.SIYU_SMS_BASE_URL = working
    assert services.send_due() == 0  # not yet due again
    clock.tick(timedelta(seconds=31))
    assert services.send_due() == 1
    assert len(sim.sms.messages(a.phone)) == 1


def test_official_account_and_wecom_paths(org: Org, hq: Scope, accounts: Accounts, clock: Clock) -> None:
    oa = make_customer(org, name="张三", oa=True)
    w1 = make_customer(org, wecom=org.n1_staff)
    w2 = make_customer(org, wecom=org.n1_staff)
    w3 = make_customer(org, wecom=org.s1_staff)
    campaign = _launch(hq, accounts, [oa.pk, w1.pk, w2.pk, w3.pk], ["wecom", "official_account"])
    assert services.send_due() == 4
    template = TemplateSend.objects.get()
    assert (template.idempotency_key, template.openid) == (f"campaign:{campaign.pk}:customer:{oa.pk}",
                                                           oa.identities.get(kind="oa_openid").value)
    sends = {m.senders.get().staff_id: m for m in MassSend.objects.all()}
    assert set(sends) == {org.n1_staff.pk, org.s1_staff.pk}
    assert sends[org.n1_staff.pk].text == "我是n1_staff，Beijing 1上新了"
    assert sorted(MassSendRecipient.objects.filter(mass_send=sends[org.n1_staff.pk]).values_list(
        "customer_id", flat=True)) == sorted([w1.pk, w2.pk])
    # the staff confirm on their phone: WeCom reports the recipient sent
    MassSendRecipient.objects.filter(customer_id=w1.pk).update(status="sent")
    assert services.sync_wecom_confirmations() == 1
    assert queries.progress(hq, campaign.pk)["confirmed"] == 1
    assert queries.progress(hq, campaign.pk)["sent"] == 3


def test_results_per_variant_with_holdout_and_touch_credit(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                           sim: Simulator) -> None:
    people = [make_customer(org, phone=True, sms_consent=True) for _ in range(30)]
    campaign = _launch(hq, accounts, [c.pk for c in people], ["sms"], holdout_pct=30,
                       variants=[{"name": "A"}, {"name": "B", "content": {"sms": "B版"}}], attribution_days=7)
    services.send_due()
    rows = {d.customer_id: d for d in Delivery.objects.filter(campaign=campaign)}
    groups: dict[str, list[int]] = {}
    for cid, d in rows.items():
        groups.setdefault(d.variant or "holdout", []).append(cid)
    assert set(groups) == {"A", "B", "holdout"}, groups  # this dataset's buckets fill every group
    # one buyer per group within the window, one more in A after the window, amounts by hand
    clock.tick(timedelta(days=1))
    paid = {groups["A"][0]: 10000, groups["B"][0]: 5000, groups["holdout"][0]: 3000}
    day2 = datetime(2026, 12, 21, 2, tzinfo=UTC)
    for n, (cid, amount) in enumerate(paid.items()):
        order = Order.objects.create(enterprise=org.enterprise, customer_id=cid, order_no=f"C{n}", status="paid",
                                     amount_fen=amount, paid_fen=amount, created_at=day2, paid_at=day2)
        hooks.order_paid(org.enterprise.pk, order.pk, day2)
    Order.objects.create(enterprise=org.enterprise, customer_id=groups["A"][0], order_no="late", status="paid",
                         amount_fen=777, created_at=datetime(2026, 12, 28, 3, tzinfo=UTC),
                         paid_at=datetime(2026, 12, 28, 3, tzinfo=UTC))
    results = {r.variant or "holdout": r for r in queries.variant_results(hq, campaign.pk)}
    assert {k: (r.recipients, r.conversions, r.revenue_fen) for k, r in results.items()} == {
        "A": (len(groups["A"]), 1, 10000), "B": (len(groups["B"]), 1, 5000),
        "holdout": (len(groups["holdout"]), 1, 3000)}
    # variant B got its own text
    assert sim.sms.messages(people[[c.pk for c in people].index(groups["B"][0])].phone) == ["【品牌】B版"]
    # credit: the two sent recipients' orders, each first and last touch; the holdout's order credits nothing
    credited = sorted((c.touch, c.revenue_fen) for c in Conversion.objects.all())
    assert credited == [("first", 5000), ("first", 10000), ("last", 5000), ("last", 10000)]
    assert queries.attributed(hq, campaign.pk) == {"first": {"orders": 2, "revenue_fen": 15000},
                                                   "last": {"orders": 2, "revenue_fen": 15000}}
    inputs = queries.ab_test_inputs(hq, campaign.pk)
    assert inputs["primary_metric"] == "conversion"
    assert {g["variant"] for g in inputs["groups"]} == {"A", "B", "holdout"}


def test_the_providers_receipts_move_sms_deliveries_to_delivered_or_failed(
    org: Org, hq: Scope, accounts: Accounts, clock: Clock, sim: Simulator,
) -> None:
    """The SMS app's tracked send carries the campaign's key; the provider's signed receipts (DELIVRD for one
    phone, UNDELIV with MK:0001 for the other, the first one twice) reach Siyu's callback and the receipt hook moves
    each delivery once; the campaign's progress counts them."""
    from siyu.channels.sms import services as sms_services
    from siyu.channels.sms.models import SmsMessage
    from siyu.channels.sms.wire import Headers
    from tests.channels.sms.conftest import signed

    a = make_customer(org, name="王芳", phone=True, sms_consent=True)
    b = make_customer(org, name="李雷", phone=True, sms_consent=True)
    campaign = _launch(hq, accounts, [a.pk, b.pk], ["sms"])
    assert services.send_due() == 2
    texts = {row.customer_id: row for row in SmsMessage.objects.all()}
    assert {row.key for row in texts.values()} == {f"campaign:{campaign.pk}:customer:{c.pk}" for c in (a, b)}
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}

    def receipt(customer_id: int, status: str, nonce: str, error: str = "") -> int:
        row = texts[customer_id]
        body = {"type": "receipt", "message_id": row.provider_message_id, "key": f"siyu-sms:{row.pk}",
                "phone": row.phone, "status": status, "error_code": error, "reported_at": "2026-12-07T08:00:00Z"}
        raw, head = signed(body, nonce=nonce)
        return sms_services.receive_callback(body=raw, headers=Headers(
            timestamp=head["X-Sms-Timestamp"], nonce=head["X-Sms-Nonce"], signature=head["X-Sms-Signature"])).status

    assert [receipt(a.pk, "DELIVRD", "r1"), receipt(a.pk, "DELIVRD", "r2"),
            receipt(b.pk, "UNDELIV", "r3", "MK:0001")] == [200, 200, 200]
    got = {d.customer_id: d for d in Delivery.objects.all()}
    assert (got[a.pk].status, got[a.pk].delivered_at is not None) == ("delivered", True)
    assert (got[b.pk].status, got[b.pk].error) == ("failed", "MK:0001")
    assert sim.sms.messages(a.phone) == ["【品牌】王芳，Beijing 1双旦上新"]  # nothing sent again
