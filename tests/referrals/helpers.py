"""A brand running referrals: the shop of tests/orders (a coupon template 满50减10), a points program (a point worth
1 fen, so a reward's cost in fen is its points), and adds played the way the WeCom callback writes them: a new
customer created at the add, a relationship and a `wecom_contact_added` event whose `campaign` is the code's state."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone

from siyu.customers import services as customer_services
from siyu.customers.models import Channel, Customer, RelationshipStatus
from siyu.loyalty.models import PointsLot
from siyu.org.models import Staff
from siyu.referrals import services
from siyu.referrals.models import Campaign, Participant
from tests.factories import CustomerFactory
from tests.loyalty.helpers import setup_program
from tests.orders.helpers import Shop

_keys = itertools.count(1)
START = timezone.now() - timedelta(days=10)


def points_shop(shop: Shop) -> Shop:
    setup_program(shop, window=0)
    return shop


def campaign(shop: Shop, **overrides: object) -> Campaign:
    fields: dict[str, object] = {"kind": "invite", "name": "邀请有礼", "starts_at": START,
                                 "ends_at": START + timedelta(days=60), "reward_points": 100}
    fields.update(overrides)
    return services.save_campaign(scope=shop.hq, data=services.CampaignInput(**fields))  # type: ignore[arg-type]


def join(c: Campaign, customer: Customer, at: datetime | None = None) -> Participant:
    return services.join_campaign(enterprise_id=c.enterprise_id, campaign_id=c.pk, customer_id=customer.pk,
                                  now=at or START + timedelta(days=1))


def new_customer(shop: Shop, name: str, at: datetime) -> Customer:
    return CustomerFactory.create(enterprise=shop.org.enterprise, name=name, created_at=at)


def add(customer: Customer, staff: Staff, state: str, at: datetime) -> None:
    customer_services.add_relationship(customer=customer, staff=staff, added_at=at, channel=Channel.WECOM,
                                       state=state)
    customer_services.record_event(customer=customer, name="wecom_contact_added",
                                   idempotency_key=f"t-add:{next(_keys)}", occurred_at=at, channel=Channel.WECOM,
                                   staff_id=staff.pk, campaign=state, properties={"state": state})


def delete(customer: Customer, staff: Staff, at: datetime) -> None:
    customer_services.end_relationship(customer=customer, staff=staff,
                                       status=RelationshipStatus.DELETED_BY_CUSTOMER, at=at)
    customer_services.record_event(customer=customer, name="wecom_contact_deleted",
                                   idempotency_key=f"t-del:{next(_keys)}", occurred_at=at, channel=Channel.WECOM,
                                   staff_id=staff.pk, properties={"by": "customer"})


def bring(shop: Shop, inviter: Participant, name: str, at: datetime) -> Customer:
    """A new person scans the inviter's poster and adds staff at `at`."""
    invitee = new_customer(shop, name, at)
    add(invitee, shop.org.n1_staff, inviter.token, at)
    return invitee


def scan(shop: Shop, at: datetime) -> int:
    return services.scan(enterprise_id=shop.enterprise_id, now=at)


def referral_points(customer: Customer) -> int:
    return sum(PointsLot.objects.filter(customer=customer, key__startswith="referral:").values_list(
        "points", flat=True))


def balance(customer: Customer) -> int:
    return sum(PointsLot.objects.filter(customer=customer).values_list("remaining", flat=True))
