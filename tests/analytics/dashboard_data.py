"""A small hand-made dataset for the dashboard tests, with every expected figure worked out by hand in the tests.

Range under test: 2026-03-01 .. 2026-03-31 (Shanghai days; 2026-03-02 is a Monday). Previous period: 2026-01-29 ..
2026-02-28. Enterprise `brand`: region R with stores S1 and S2; staff A and B at S1, store manager M of S1, HQ admin H.
A second enterprise `other` has a customer with orders that must never appear."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import count

from siyu.analytics.dashboards.framework import Board, Table
from siyu.core.timeutil import SHANGHAI
from siyu.customers.models import Customer, Event, Relationship
from siyu.orders.models import Order
from siyu.org.models import Enterprise, Role, Staff, Store
from siyu.referrals.models import Campaign, Invitation, Participant
from tests.factories import EnterpriseFactory, RegionFactory, StaffFactory, StoreFactory, UserFactory

_seq = count(1)


def sh(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """A Shanghai wall-clock instant in 2026 (aware)."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class Brand:
    enterprise: Enterprise
    s1: Store
    s2: Store
    hq: Staff
    manager: Staff
    staff_a: Staff
    staff_b: Staff
    other: Enterprise
    c: dict[str, Customer] = field(default_factory=dict)


def customer(enterprise: Enterprise, *, created: datetime, store: Store | None, source: str) -> Customer:
    return Customer.objects.create(enterprise=enterprise, name=f"c{next(_seq)}", created_at=created,
                                   home_store=store, created_source=source)


def event(who: Customer, name: str, at: datetime) -> None:
    Event.objects.create(enterprise_id=who.enterprise_id, customer=who, name=name, occurred_at=at,
                         idempotency_key=f"t:{next(_seq)}")


def order(who: Customer, paid_at: datetime, fen: int, status: str = "paid") -> None:
    Order.objects.create(enterprise_id=who.enterprise_id, customer=who, order_no=f"D{next(_seq):08d}",
                         status=status, amount_fen=fen, paid_fen=fen, created_at=paid_at, paid_at=paid_at)


def follow(who: Customer, staff: Staff, added: datetime, status: str = "active",
           changed: datetime | None = None) -> None:
    Relationship.objects.create(customer=who, staff=staff, added_at=added, channel="wecom", status=status,
                                status_changed_at=changed)


def referral(inviter: Customer, invitee: Customer, at: datetime, status: str = "counted") -> None:
    campaign = Campaign.objects.create(enterprise_id=inviter.enterprise_id, kind="invite", name="invite",
                                       starts_at=sh(1, 1), ends_at=sh(12, 1))
    participant = Participant.objects.create(campaign=campaign, customer=inviter, token=f"tk{next(_seq)}",
                                             joined_at=at)
    Invitation.objects.create(campaign=campaign, inviter=participant, invitee=invitee, status=status,
                              occurred_at=at)


def staff(enterprise: Enterprise, role: str, store: Store | None) -> Staff:
    return StaffFactory.create(enterprise=enterprise, role=role, store=store,
                        region=store.region if store is not None else None,
                        user=UserFactory.create())


def brand() -> Brand:
    enterprise = EnterpriseFactory.create(code="brand", name="Brand")
    region = RegionFactory.create(enterprise=enterprise)
    s1 = StoreFactory.create(region=region)
    s2 = StoreFactory.create(region=region)
    other = EnterpriseFactory.create(code="other", name="Other")
    b = Brand(enterprise, s1, s2, staff(enterprise, Role.HQ_ADMIN, None), staff(enterprise, Role.STORE_MANAGER, s1),
              staff(enterprise, Role.STORE_STAFF, s1), staff(enterprise, Role.STORE_STAFF, s1), other)
    c = b.c
    # c1: in the pool since February (previous period), follows B; deleted B on 03-15 (a lost contact).
    c["c1"] = customer(enterprise, created=sh(2, 10), store=s1, source="wecom")
    follow(c["c1"], b.staff_b, sh(2, 10), "deleted_by_customer", sh(3, 15))
    event(c["c1"], "page_viewed", sh(2, 11))
    order(c["c1"], sh(2, 11), 8000)
    event(c["c1"], "page_viewed", sh(3, 10))
    order(c["c1"], sh(3, 10), 10000)
    order(c["c1"], sh(3, 20), 5000)
    # c2: added 03-02 10:00 through A, active 1 h later, orders at +24 h and +72 h, refers a friend at +96 h.
    c["c2"] = customer(enterprise, created=sh(3, 2, 10), store=s1, source="wecom")
    follow(c["c2"], b.staff_a, sh(3, 2, 10))
    event(c["c2"], "page_viewed", sh(3, 2, 11))
    order(c["c2"], sh(3, 3, 11), 20000)
    order(c["c2"], sh(3, 5, 11), 6000)
    # c3: store S2, added 03-05 23:30, its only action at 23:30 on the range's last day (counts): +624 h.
    c["c3"] = customer(enterprise, created=sh(3, 5, 23, 30), store=s2, source="miniprogram")
    event(c["c3"], "product_viewed", sh(3, 31, 23, 30))
    # c4: added 23:30 on the last day through A (in the range), nothing else.
    c["c4"] = customer(enterprise, created=sh(3, 31, 23, 30), store=s1, source="miniprogram")
    follow(c["c4"], b.staff_a, sh(3, 31, 23, 30))
    # c5: added 00:10 the day after the range, active then too: in neither.
    c["c5"] = customer(enterprise, created=sh(4, 1, 0, 10), store=s2, source="wecom")
    event(c["c5"], "page_viewed", sh(4, 1, 0, 10))
    order(c["c5"], sh(4, 1, 0, 10), 99900)
    referral(c["c2"], c["c5"], sh(3, 6, 11))
    # A cancelled order never counts.
    order(c["c2"], sh(3, 7), 70000, status="cancelled")
    # The other enterprise: a customer of its own with a big order in the range.
    x1 = customer(other, created=sh(3, 3), store=None, source="wecom")
    event(x1, "page_viewed", sh(3, 3))
    order(x1, sh(3, 3), 123400)
    return b


def table(board: Board, key: str) -> Table:
    """A dashboard's table by its key."""
    return next(t for t in board.tables if t.key == key)
