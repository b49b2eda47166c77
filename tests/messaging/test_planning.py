"""Planning: each person once, on the first reachable channel of the campaign's order, within the contact budget;
the waterfall's numbers are written by hand from the dataset below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from siyu.customers.models import Consent, MarketingChannel
from siyu.messaging import services
from siyu.messaging.models import Delivery, DeliveryStatus
from siyu.messaging.services import CampaignInput
from siyu.orders.models import AfterSale, Order
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.messaging.conftest import Accounts, Clock
from tests.messaging.helpers import make_customer, past_contacts

ALL = ["wecom", "official_account", "sms"]
TEXTS = {"wecom": "{name}您好，我是{staff_name}", "official_account": "{name}，{store}上新",
         "sms": "{name}，{store}上新"}


def _campaign(hq: Scope, accounts: Accounts, ids: list[int], *, channels: list[str] = ALL, **kw: object) -> int:
    data = CampaignInput(name="双旦", audience_kind="list", customer_ids=ids, channels=channels,
                         content={c: TEXTS[c] for c in channels}, wecom_account_id=accounts.wecom.pk,
                         oa_account_id=accounts.oa.pk, oa_template_id="TPL1", sms_sign="品牌", **kw)  # type: ignore[arg-type]
    return services.create_campaign(scope=hq, data=data).pk


def _rows(campaign_id: int) -> dict[int, tuple[str, str, str]]:
    return {d.customer_id: (d.status, d.channel, d.reason) for d in Delivery.objects.filter(campaign_id=campaign_id)}


def _order(org: Org, customer_id: int, paid_at: datetime, no: str) -> Order:
    return Order.objects.create(enterprise=org.enterprise, customer_id=customer_id, order_no=no, status="paid",
                                amount_fen=9900, paid_fen=9900, created_at=paid_at, paid_at=paid_at)


def test_each_customer_once_on_the_first_reachable_channel(org: Org, hq: Scope, accounts: Accounts,
                                                           clock: Clock) -> None:
    services.set_policy(scope=hq, values={"recent_purchase_days": 3})
    staff = org.n1_staff
    everywhere = make_customer(org, wecom=staff, oa=True, phone=True, sms_consent=True)
    oa_and_sms = make_customer(org, oa=True, phone=True, sms_consent=True)
    sms_only = make_customer(org, phone=True, sms_consent=True)
    phone_no_consent = make_customer(org, phone=True)
    nothing = make_customer(org)
    wecom_withdrawn = make_customer(org, wecom=staff, phone=True, sms_consent=True,
                                    withdraw=(MarketingChannel.WECOM,))
    dnd = make_customer(org, wecom=staff, dnd=True)
    month_full_sms = make_customer(org, wecom=staff, phone=True, sms_consent=True)
    month_full = make_customer(org, wecom=staff)
    after_sale = make_customer(org, wecom=staff)
    bought = make_customer(org, wecom=staff)
    early_month = [datetime(2026, 12, d, 3, tzinfo=UTC) for d in (1, 2, 3, 4)]  # > 7 days ago, same month
    past_contacts(org, month_full_sms, "wecom", early_month)
    past_contacts(org, month_full, "wecom", early_month)
    order = _order(org, after_sale.pk, datetime(2026, 11, 1, tzinfo=UTC), "O1")
    AfterSale.objects.create(enterprise=org.enterprise, order=order, customer=after_sale, kind="refund_only",
                             amount_fen=100, requested_at=datetime(2026, 12, 19, tzinfo=UTC))
    _order(org, bought.pk, datetime(2026, 12, 19, tzinfo=UTC), "O2")
    people = [everywhere, oa_and_sms, sms_only, phone_no_consent, nothing, wecom_withdrawn, dnd, month_full_sms,
              month_full, after_sale, bought]
    campaign_id = _campaign(hq, accounts, [c.pk for c in people])

    campaign = services.plan_campaign(scope=hq, campaign_id=campaign_id)

    assert _rows(campaign_id) == {
        everywhere.pk: ("planned", "wecom", ""),
        oa_and_sms.pk: ("planned", "official_account", ""),
        sms_only.pk: ("planned", "sms", ""),
        phone_no_consent.pk: ("excluded", "", "opted_out"),
        nothing.pk: ("excluded", "", "no_channel"),
        wecom_withdrawn.pk: ("planned", "sms", ""),
        dnd.pk: ("excluded", "", "dnd"),
        month_full_sms.pk: ("planned", "sms", ""),
        month_full.pk: ("excluded", "", "wecom_monthly_limit"),
        after_sale.pk: ("excluded", "", "open_after_sale"),
        bought.pk: ("excluded", "", "recent_purchase"),
    }
    assert campaign.plan["audience"] == 11
    assert campaign.plan["channels"] == {"wecom": 1, "official_account": 1, "sms": 3}
    assert campaign.plan["excluded"] == {"opted_out": 1, "no_channel": 1, "dnd": 1, "wecom_monthly_limit": 1,
                                         "open_after_sale": 1, "recent_purchase": 1}
    row = Delivery.objects.get(campaign_id=campaign_id, customer=everywhere)
    wecom_id = everywhere.identities.get(kind="wecom_external_userid").value
    assert (row.key, row.staff_id, row.target) == (f"campaign:{campaign_id}:customer:{everywhere.pk}", staff.pk,
                                                   wecom_id)
    assert Delivery.objects.get(campaign_id=campaign_id, customer=sms_only).target == sms_only.phone


def test_preference_order_is_the_operators(org: Org, hq: Scope, accounts: Accounts, clock: Clock) -> None:
    everywhere = make_customer(org, wecom=org.n1_staff, oa=True, phone=True, sms_consent=True)
    campaign_id = _campaign(hq, accounts, [everywhere.pk], channels=["sms", "official_account", "wecom"])
    services.plan_campaign(scope=hq, campaign_id=campaign_id)
    assert _rows(campaign_id) == {everywhere.pk: ("planned", "sms", "")}


def test_overlapping_campaigns_respect_daily_and_weekly_caps(org: Org, hq: Scope, accounts: Accounts,
                                                             clock: Clock) -> None:
    services.set_policy(scope=hq, values={"max_per_day": 1, "max_per_week": 2})
    a, b = (make_customer(org, phone=True, sms_consent=True) for _ in range(2))
    withdrawn_later = make_customer(org, phone=True, sms_consent=True)
    ids = [a.pk, b.pk, withdrawn_later.pk]
    first = _campaign(hq, accounts, ids, channels=["sms"])
    services.plan_campaign(scope=hq, campaign_id=first)
    same_day = _campaign(hq, accounts, ids, channels=["sms"])
    services.plan_campaign(scope=hq, campaign_id=same_day)
    assert {r[2] for r in _rows(same_day).values()} == {"daily_cap"}

    tomorrow = _campaign(hq, accounts, ids, channels=["sms"], scheduled_at=datetime(2026, 12, 21, 2, tzinfo=UTC))
    services.plan_campaign(scope=hq, campaign_id=tomorrow)
    assert {r[:2] for r in _rows(tomorrow).values()} == {("planned", "sms")}

    # a third contact within the rolling week is over the weekly cap of 2
    in_two_days = _campaign(hq, accounts, ids, channels=["sms"], scheduled_at=datetime(2026, 12, 22, 2, tzinfo=UTC))
    services.plan_campaign(scope=hq, campaign_id=in_two_days)
    assert {r[2] for r in _rows(in_two_days).values()} == {"weekly_cap"}

    # eight days later the first two have left the window on one side; the week after the 21st still holds one
    later = _campaign(hq, accounts, ids, channels=["sms"], scheduled_at=datetime(2026, 12, 29, 2, tzinfo=UTC))
    services.plan_campaign(scope=hq, campaign_id=later)
    assert {r[:2] for r in _rows(later).values()} == {("planned", "sms")}


def test_quiet_hours_delay_the_send_instead_of_dropping_it(org: Org, hq: Scope, accounts: Accounts,
                                                           clock: Clock) -> None:
    clock.move_to(datetime(2026, 12, 20, 14, 30, tzinfo=UTC))  # 22:30 in Shanghai
    customer = make_customer(org, phone=True, sms_consent=True)
    campaign_id = _campaign(hq, accounts, [customer.pk], channels=["sms"])
    campaign = services.plan_campaign(scope=hq, campaign_id=campaign_id)
    row = Delivery.objects.get(campaign_id=campaign_id)
    assert row.status == DeliveryStatus.PLANNED
    assert row.due_at == datetime(2026, 12, 21, 1, 0, tzinfo=UTC)  # 09:00 Shanghai the next morning
    assert campaign.plan["due_at"] == "2026-12-21T01:00:00+00:00"
    services.launch_campaign(scope=hq, campaign_id=campaign_id)
    assert services.claim_batch() and not Delivery.objects.filter(status="sending").exists()
    clock.move_to(datetime(2026, 12, 21, 1, 0, 1, tzinfo=UTC))
    token = services.claim_batch()
    assert list(Delivery.objects.filter(claim=token).values_list("status", flat=True)) == ["sending"]


def test_variants_and_holdout_come_from_a_stable_bucket(org: Org, hq: Scope, accounts: Accounts,
                                                        clock: Clock) -> None:
    people = [make_customer(org, phone=True, sms_consent=True) for _ in range(40)]
    campaign_id = _campaign(hq, accounts, [c.pk for c in people], channels=["sms"], holdout_pct=25,
                            variants=[{"name": "A"}, {"name": "B"}])
    services.plan_campaign(scope=hq, campaign_id=campaign_id)
    expected = {}
    for c in people:  # the hash written out by hand: (id * 1103515245 + campaign * 7919) mod 2^31
        h = (c.pk * 1103515245 + campaign_id * 7919) % 2**31
        expected[c.pk] = ("holdout", "") if h % 100 < 25 else ("planned", "AB"[(h // 100) % 2])
    got = {d.customer_id: (d.status, d.variant) for d in Delivery.objects.filter(campaign_id=campaign_id)}
    assert got == expected
    assert 0 < sum(1 for s, _v in got.values() if s == "holdout") < 40
    # planning again gives everyone the same bucket
    services.plan_campaign(scope=hq, campaign_id=campaign_id)
    assert {d.customer_id: (d.status, d.variant) for d in Delivery.objects.filter(campaign_id=campaign_id)} == expected


def test_a_withdrawal_after_planning_is_honoured_at_send_time(org: Org, hq: Scope, accounts: Accounts,
                                                              clock: Clock) -> None:
    customer = make_customer(org, phone=True, sms_consent=True)
    campaign_id = _campaign(hq, accounts, [customer.pk], channels=["sms"])
    services.plan_campaign(scope=hq, campaign_id=campaign_id)
    services.launch_campaign(scope=hq, campaign_id=campaign_id)
    clock.tick(timedelta(minutes=1))
    # the customer replies TD: a withdrawal is recorded after the plan
    Consent.objects.create(enterprise=org.enterprise, customer=customer, channel="sms", granted=False,
                           method="sms_reply", recorded_at=datetime(2026, 12, 20, 2, 0, 30, tzinfo=UTC))
    token = services.claim_batch()
    services.send_batch(token)
    assert _rows(campaign_id) == {customer.pk: ("excluded", "sms", "opted_out")}
