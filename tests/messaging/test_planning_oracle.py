"""The set-based planner against a second implementation: a plain per-customer Python oracle, written here from the
rules in docs/campaigns.md, over ~60 hand-made customers that hit every exclusion reason and both sides of every
window and cap boundary. Both plan shapes are checked: the narrow one (an audience of a few members probes their rows
through the customer indexes) and the wide one (each input read once for the enterprise and joined)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from siyu.customers.models import Consent, Customer, Identity, IdentityKind, Relationship, RelationshipStatus
from siyu.messaging import planning, services
from siyu.messaging.models import Campaign, Delivery, DoNotDisturb
from siyu.messaging.services import CampaignInput
from siyu.orders.models import AfterSale, Order
from siyu.org.models import Staff
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.messaging.conftest import Accounts, Clock

# The clock: 2026-12-20 02:00 UTC (10:00 in Shanghai, outside quiet hours), so the send is due now. The windows by
# hand: the Shanghai day 2026-12-20 is 12-19 16:00 to 12-20 16:00 UTC; the rolling week is due -/+ 7 days; the
# calendar month of December is 11-30 16:00 to 12-31 16:00 UTC; recent purchases are paid in [due - 3 days, due].
DUE = datetime(2026, 12, 20, 2, tzinfo=UTC)
DAY = (datetime(2026, 12, 19, 16, tzinfo=UTC), datetime(2026, 12, 20, 16, tzinfo=UTC))
WEEK = (DUE - timedelta(days=7), DUE + timedelta(days=7))
MONTH = (datetime(2026, 11, 30, 16, tzinfo=UTC), datetime(2026, 12, 31, 16, tzinfo=UTC))
PER_DAY, PER_WEEK, WECOM_DAY, SMS_DAY, WECOM_MONTH, PURCHASE_DAYS = 2, 3, 1, 1, 4, 3
CHANNELS = ["wecom", "official_account", "sms"]
HOLDOUT = 20
COUNTED = {"planned", "sending", "sent", "delivered", "confirmed", "waiting"}


@dataclass
class Person:
    """What was made for one customer, kept in Python for the oracle."""

    phone: str = ""
    wecom_ids: list[tuple[int, str, str]] = field(default_factory=list)  # (identity id, account, value)
    oa_ids: list[tuple[int, str, str]] = field(default_factory=list)
    follows: list[tuple[datetime, int, int, bool]] = field(default_factory=list)  # (added_at, id, staff, counts)
    consents: list[tuple[datetime, int, str, bool]] = field(default_factory=list)  # (at, id, channel, granted)
    dnd: bool = False
    open_after_sale: bool = False
    paid: list[datetime] = field(default_factory=list)
    contacts: list[tuple[datetime, str, str]] = field(default_factory=list)  # (due_at, channel, status)


def _count(p: Person, span: tuple[datetime, datetime], channel: str = "") -> int:
    return sum(1 for at, ch, status in p.contacts
               if status in COUNTED and span[0] <= at < span[1] and (not channel or ch == channel))


def _allowed(p: Person, channel: str) -> bool:
    records = sorted((at, i, granted) for at, i, ch, granted in p.consents if ch == channel)
    return records[-1][2] if records else channel != "sms"


def _first(ids: list[tuple[int, str, str]], app_id: str) -> str | None:
    usable = sorted((i, value) for i, account, value in ids if account in (app_id, ""))
    return usable[0][1] if usable else None


def oracle(cid: int, p: Person, campaign_id: int) -> tuple[str, str, str, int | None, str]:
    """(status, channel, reason, staff, target) for one customer, by the rules as an operator reads them."""
    wecom_target, oa_target = _first(p.wecom_ids, "wwcampaigns"), _first(p.oa_ids, "wxcampaigns")
    staff = min(((at, i, s) for at, i, s, counts in p.follows if counts), default=None)
    reach = {"wecom": wecom_target is not None and staff is not None, "official_account": oa_target is not None,
             "sms": p.phone != ""}
    ok = {c: _allowed(p, c) for c in CHANNELS}
    room = {"wecom": _count(p, DAY, "wecom") < WECOM_DAY and _count(p, MONTH, "wecom") < WECOM_MONTH,
            "official_account": True, "sms": _count(p, DAY, "sms") < SMS_DAY}
    reason = ""
    if p.dnd:
        reason = "dnd"
    elif p.open_after_sale:
        reason = "open_after_sale"
    elif any(DUE - timedelta(days=PURCHASE_DAYS) <= at <= DUE for at in p.paid):
        reason = "recent_purchase"
    elif _count(p, DAY) >= PER_DAY:
        reason = "daily_cap"
    elif _count(p, WEEK) >= PER_WEEK:
        reason = "weekly_cap"
    chosen = next((c for c in CHANNELS if reach[c] and ok[c] and room[c]), "")
    if not reason and not chosen:
        if reach["wecom"] and ok["wecom"] and _count(p, MONTH, "wecom") >= WECOM_MONTH:
            reason = "wecom_monthly_limit"
        elif any(reach[c] and ok[c] for c in CHANNELS):
            reason = "channel_cap"
        else:
            reason = "opted_out" if any(reach.values()) else "no_channel"
    if reason:
        return ("excluded", "", reason, None, "")
    bucket = (cid * 1103515245 + campaign_id * 7919) % 2**31 % 100
    target = {"wecom": wecom_target, "official_account": oa_target, "sms": p.phone}[chosen] or ""
    return ("holdout" if bucket < HOLDOUT else "planned", chosen, "", staff[2] if chosen == "wecom" and staff else None,
            target)


class Maker:
    def __init__(self, org: Org) -> None:
        self.org, self.n = org, 0
        ent = org.enterprise
        self.staff = org.n1_staff
        self.other = Staff.objects.create(enterprise=ent, name="二号导购", wecom_userid="second")
        self.inactive = Staff.objects.create(enterprise=ent, name="离职导购", wecom_userid="gone", is_active=False)
        self.no_wecom = Staff.objects.create(enterprise=ent, name="门店收银", wecom_userid="")
        self.old = Campaign.objects.create(enterprise=ent, name="older", audience_kind="list", channels=["sms"],
                                           content={"sms": "x"}, status="done")

    def customer(self, p: Person) -> Customer:
        self.n += 1
        ent = self.org.enterprise
        customer = Customer.objects.create(enterprise=ent, name=f"顾客{self.n}", created_at=DUE - timedelta(days=90),
                                           phone=p.phone, home_store=self.org.store_n1)
        return customer

    def identity(self, customer: Customer, p: Person, kind: str, account: str) -> None:
        value = f"{kind[:2]}{customer.pk}-{len(p.wecom_ids) + len(p.oa_ids)}"
        row = Identity.objects.create(enterprise=self.org.enterprise, customer=customer, kind=kind, value=value,
                                      account=account)
        (p.wecom_ids if kind == IdentityKind.WECOM_EXTERNAL_USERID else p.oa_ids).append((row.pk, account, value))

    def follow(self, customer: Customer, p: Person, staff: Staff, added_at: datetime,
               status: str = RelationshipStatus.ACTIVE) -> None:
        row = Relationship.objects.create(customer=customer, staff=staff, added_at=added_at, status=status)
        counts = status == RelationshipStatus.ACTIVE and staff.is_active and staff.wecom_userid != ""
        p.follows.append((added_at, row.pk, staff.pk, counts))

    def consent(self, customer: Customer, p: Person, channel: str, granted: bool, at: datetime) -> None:
        row = Consent.objects.create(enterprise=self.org.enterprise, customer=customer, channel=channel,
                                     granted=granted, method="form", recorded_at=at)
        p.consents.append((at, row.pk, channel, granted))

    def contact(self, customer: Customer, p: Person, at: datetime, channel: str, status: str = "sent") -> None:
        index = len(p.contacts)
        campaign = self.old if index == 0 else Campaign.objects.create(
            enterprise=self.org.enterprise, name=f"older {customer.pk}-{index}", audience_kind="list",
            channels=[channel], content={channel: "x"}, status="done")
        Delivery.objects.create(campaign=campaign, enterprise=self.org.enterprise, customer=customer,
                                key=f"campaign:{campaign.pk}:customer:{customer.pk}", channel=channel, status=status,
                                due_at=at, created_at=at)
        p.contacts.append((at, channel, status))

    def order(self, customer: Customer, p: Person, paid_at: datetime, *, after_sale: str = "") -> None:
        self.n += 1
        order = Order.objects.create(enterprise=self.org.enterprise, customer=customer, order_no=f"OR{self.n}",
                                     status="paid", amount_fen=100, paid_fen=100, created_at=paid_at, paid_at=paid_at)
        p.paid.append(paid_at)
        if after_sale:
            AfterSale.objects.create(enterprise=self.org.enterprise, order=order, customer=customer,
                                     kind="refund_only", status=after_sale, amount_fen=100,
                                     requested_at=paid_at + timedelta(hours=1))
            p.open_after_sale = p.open_after_sale or after_sale in ("requested", "approved", "returned")


def _boundary_cases(m: Maker) -> list[tuple[Customer, Person]]:
    """One customer per boundary, each reachable by SMS (consented) unless the case is about reach."""
    cases: list[tuple[Customer, Person]] = []

    def sms_person() -> tuple[Customer, Person]:
        p = Person(phone=f"138{len(cases):08d}")
        c = m.customer(p)
        m.consent(c, p, "sms", True, DUE - timedelta(days=30))
        cases.append((c, p))
        return c, p

    c, p = sms_person()
    m.contact(c, p, DAY[0], "official_account")
    m.contact(c, p, DAY[1] - timedelta(seconds=1), "official_account")  # two today: the daily cap, both ends in
    c, p = sms_person()
    m.contact(c, p, DUE - timedelta(hours=1), "official_account")
    m.contact(c, p, DAY[0] - timedelta(seconds=1), "official_account")  # yesterday's last second: one today
    c, p = sms_person()
    m.contact(c, p, DUE - timedelta(hours=1), "official_account")
    m.contact(c, p, DAY[1], "official_account")  # tomorrow's first moment: one today
    c, p = sms_person()
    for at in (WEEK[0], DUE - timedelta(days=3), DUE + timedelta(days=6)):
        m.contact(c, p, at, "official_account")  # three in the week, the first on its edge: the weekly cap
    c, p = sms_person()
    for at in (WEEK[0] - timedelta(seconds=1), DUE - timedelta(days=3), DUE + timedelta(days=3)):
        m.contact(c, p, at, "official_account")  # the first just outside the week: two in it
    c, p = sms_person()
    for at in (DUE - timedelta(days=3), DUE + timedelta(days=3), WEEK[1]):
        m.contact(c, p, at, "official_account")  # the last on the week's open end: two in it
    c, p = sms_person()
    m.contact(c, p, DAY[1], "sms")  # tomorrow's SMS leaves today's SMS room
    c, p = sms_person()
    m.contact(c, p, DUE - timedelta(hours=1), "official_account", "excluded")
    m.contact(c, p, DUE - timedelta(hours=2), "official_account", "holdout")
    m.contact(c, p, DUE - timedelta(hours=3), "official_account", "failed")  # none of these is a contact
    c, p = sms_person()
    m.contact(c, p, DUE - timedelta(hours=1), "sms")  # today's SMS used: SMS has no room, nothing else reaches
    c, p = sms_person()
    m.contact(c, p, DUE - timedelta(hours=1), "sms", "waiting")  # a waiting row counts too
    c, p = sms_person()
    m.order(c, p, DUE - timedelta(days=PURCHASE_DAYS))  # paid exactly 3 days ago: suppressed
    c, p = sms_person()
    m.order(c, p, DUE - timedelta(days=PURCHASE_DAYS, seconds=1))  # a second earlier: not
    c, p = sms_person()
    m.order(c, p, DUE - timedelta(days=40), after_sale="requested")
    c, p = sms_person()
    m.order(c, p, DUE - timedelta(days=40), after_sale="refunded")  # a closed after-sale suppresses nothing
    c, p = sms_person()
    m.consent(c, p, "sms", False, DUE - timedelta(days=30))  # same time as the grant, later id: withdrawn
    c, p = sms_person()
    m.consent(c, p, "sms", False, DUE - timedelta(days=40))  # an older withdrawal: the grant stands
    return cases


def _random_reach(m: Maker, rng: random.Random, c: Customer, p: Person) -> None:
    if rng.random() < 0.6:
        m.identity(c, p, IdentityKind.WECOM_EXTERNAL_USERID, rng.choice(["wwcampaigns", "", "wwother"]))
        if rng.random() < 0.2:
            m.identity(c, p, IdentityKind.WECOM_EXTERNAL_USERID, "wwcampaigns")
        for staff in rng.sample([m.staff, m.other, m.inactive, m.no_wecom], rng.randint(0, 2)):
            status = rng.choice([RelationshipStatus.ACTIVE] * 3 + [RelationshipStatus.DELETED_BY_CUSTOMER])
            m.follow(c, p, staff, DUE - timedelta(days=rng.choice([10, 20, 20, 30])), status)
    if rng.random() < 0.5:
        m.identity(c, p, IdentityKind.OA_OPENID, rng.choice(["wxcampaigns", "", "wxother"]))
    for channel in CHANNELS:
        for _ in range(rng.choice([0, 0, 1, 2])):
            m.consent(c, p, channel, rng.random() < 0.6, DUE - timedelta(days=rng.choice([1, 2, 2, 5])))


def _random_history(m: Maker, rng: random.Random, c: Customer, p: Person) -> None:
    p.dnd = rng.random() < 0.06
    if p.dnd:
        DoNotDisturb.objects.create(enterprise=m.org.enterprise, customer=c, reason="投诉")
    if rng.random() < 0.1:
        m.order(c, p, DUE - timedelta(days=rng.choice([1, 5, 40])),
                after_sale=rng.choice(["", "", "approved", "rejected"]))
    for _ in range(rng.choice([0, 0, 1, 2, 3, 4, 5])):
        when = rng.choice([DUE - timedelta(hours=2), DUE - timedelta(days=2), DUE - timedelta(days=10),
                           DUE + timedelta(days=2), MONTH[0] + timedelta(hours=1)])
        m.contact(c, p, when, rng.choice(["wecom", "wecom", "sms", "official_account"]),
                  rng.choice(["sent", "sent", "planned", "confirmed", "excluded"]))


def _random_cases(m: Maker, count: int) -> list[tuple[Customer, Person]]:
    """Customers with a seeded mix of identities, follows, consents, suppressions and earlier contacts."""
    rng = random.Random(28)
    cases = []
    for index in range(count):
        p = Person(phone=f"139{index:08d}" if rng.random() < 0.6 else "")
        c = m.customer(p)
        _random_reach(m, rng, c, p)
        _random_history(m, rng, c, p)
        cases.append((c, p))
    return cases


@pytest.mark.parametrize("narrow_max", [planning.NARROW_MAX, 0], ids=["narrow", "wide"])
def test_the_planner_agrees_with_a_per_customer_oracle(org: Org, hq: Scope, accounts: Accounts, clock: Clock,
                                                       monkeypatch: pytest.MonkeyPatch, narrow_max: int) -> None:
    monkeypatch.setattr(planning, "NARROW_MAX", narrow_max)
    services.set_policy(scope=hq, values={
        "max_per_day": PER_DAY, "max_per_week": PER_WEEK, "channel_caps": {"wecom": WECOM_DAY, "sms": SMS_DAY},
        "wecom_monthly_limit": WECOM_MONTH, "recent_purchase_days": PURCHASE_DAYS, "suppress_open_after_sale": True})
    m = Maker(org)
    people = _boundary_cases(m) + _random_cases(m, 48)
    for _ in range(3):  # a full WeCom month for one reachable customer, and one who has room on the OA
        p = Person()
        c = m.customer(p)
        m.identity(c, p, IdentityKind.WECOM_EXTERNAL_USERID, "wwcampaigns")
        m.follow(c, p, m.staff, DUE - timedelta(days=30))
        for day in (1, 2, 3, 4):
            m.contact(c, p, datetime(2026, 12, day, 3, tzinfo=UTC), "wecom")
        if len(people) % 2:
            m.identity(c, p, IdentityKind.OA_OPENID, "wxcampaigns")
        people.append((c, p))
    other = Customer.objects.create(enterprise=org.enterprise, name="not in the audience", created_at=DUE)
    data = CampaignInput(name="对照", audience_kind="list", customer_ids=[c.pk for c, _p in people], channels=CHANNELS,
                         content={c: "{name}" for c in CHANNELS}, wecom_account_id=accounts.wecom.pk,
                         oa_account_id=accounts.oa.pk, oa_template_id="TPL1", sms_sign="品牌",
                         holdout_pct=HOLDOUT, variants=[{"name": "A"}, {"name": "B"}])
    campaign_id = services.create_campaign(scope=hq, data=data).pk

    campaign = services.plan_campaign(scope=hq, campaign_id=campaign_id)

    got = {d.customer_id: (d.status, d.channel, d.reason, d.staff_id, d.target)
           for d in Delivery.objects.filter(campaign_id=campaign_id)}
    expected = {c.pk: oracle(c.pk, p, campaign_id) for c, p in people}
    assert got == expected
    assert other.pk not in got
    # the dataset reaches every reason and every channel, so the comparison above means something
    reasons = {row[2] for row in expected.values()}
    assert reasons == {"", "dnd", "open_after_sale", "recent_purchase", "daily_cap", "weekly_cap",
                       "wecom_monthly_limit", "channel_cap", "opted_out", "no_channel"}
    assert {row[1] for row in expected.values() if row[0] == "planned"} == set(CHANNELS)
    assert campaign.plan["audience"] == len(people)
