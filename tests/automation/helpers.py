"""A brand running journeys: the test org, three tags (day 0 / 1 / 3), a coupon template (满50减10), a points program
(a point worth 1 fen), customers who added store staff n1, and events written the way the callbacks write them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from siyu.automation import services
from siyu.automation.models import Journey, StaffTask, Step
from siyu.core.money import Money
from siyu.customers import services as customer_services
from siyu.customers.models import Channel, Customer, CustomerTag, Tag
from siyu.loyalty import services as loyalty
from siyu.org.scope import Scope, scope_for_staff
from siyu.promotions import services as promotions
from siyu.promotions.models import Coupon, CouponTemplate
from tests.conftest import Org
from tests.factories import CustomerFactory

_keys = itertools.count(1)


@dataclass
class World:
    org: Org
    hq: Scope
    d0: Tag
    d1: Tag
    d3: Tag
    template: CouponTemplate

    @property
    def enterprise_id(self) -> int:
        return self.org.enterprise.pk


def build_world(org: Org) -> World:
    hq = scope_for_staff(org.hq)
    group = customer_services.create_tag_group(enterprise_id=org.enterprise.pk, name="欢迎")
    tags = [customer_services.create_tag(group=group, name=n) for n in ("D0", "D1", "D3")]
    template = promotions.create_coupon_template(scope=hq, data=promotions.CouponTemplateInput(
        name="满50减10", kind="threshold", amount_off=Money(1000), threshold=Money(5000), valid_days=7,
        per_customer_limit=5))
    loyalty.configure_program(scope=hq, data=loyalty.ProgramInput(
        points_per_yuan=1, fen_per_point=1, return_window_days=0, expiry_days=365))
    return World(org=org, hq=hq, d0=tags[0], d1=tags[1], d3=tags[2], template=template)


def customer(world: World, name: str, at: datetime, *, staff: bool = True) -> Customer:
    person = CustomerFactory.create(enterprise=world.org.enterprise, name=name, created_at=at)
    if staff:
        customer_services.add_relationship(customer=person, staff=world.org.n1_staff, added_at=at,
                                           channel=Channel.WECOM, state="")
    return person


def event(person: Customer, name: str, at: datetime, **properties: Any) -> None:
    customer_services.record_event(customer=person, name=name, idempotency_key=f"t-{name}:{next(_keys)}",
                                   occurred_at=at, properties=properties)


def added(person: Customer, at: datetime) -> None:
    event(person, "wecom_contact_added", at, state="")


def paid(person: Customer, at: datetime, cart_id: str = "") -> None:
    n = next(_keys)
    event(person, "order_paid", at, order_id=n, order_no=f"NO{n}", amount_fen=5000, cart_id=cart_id)


def live(world: World, name: str, definition: dict[str, Any]) -> Journey:
    journey = services.create_journey(scope=world.hq, name=name, definition=definition)
    return services.set_status(scope=world.hq, journey_id=journey.pk, status="live")


def steps(person: Customer) -> list[tuple[str, str]]:
    return list(Step.objects.filter(enrollment__customer=person).order_by("at", "id").values_list("node", "outcome"))


def tag_names(person: Customer) -> set[str]:
    return set(CustomerTag.objects.filter(customer=person).values_list("tag__name", flat=True))


def coupons(person: Customer) -> int:
    return Coupon.objects.filter(customer=person).count()


def tasks(person: Customer) -> list[str]:
    return list(StaffTask.objects.filter(customer=person).order_by("id").values_list("title", flat=True))


def welcome(world: World, *, goal: bool = False, d1_tag: Tag | None = None) -> dict[str, Any]:
    """The new-contact welcome series: day 0 tag + task, day 1 tag, day 3 tag + task."""
    definition: dict[str, Any] = {
        "entry": {"kind": "event", "event": "wecom_contact_added"},
        "nodes": [
            {"id": "d0_tag", "kind": "action", "action": "add_tag", "tag_id": world.d0.pk},
            {"id": "d0_task", "kind": "action", "action": "create_task", "title": "打个招呼"},
            {"id": "wait1", "kind": "wait", "minutes": 1440},
            {"id": "d1_tag", "kind": "action", "action": "add_tag", "tag_id": (d1_tag or world.d1).pk},
            {"id": "wait3", "kind": "wait", "minutes": 2880},
            {"id": "d3_tag", "kind": "action", "action": "add_tag", "tag_id": world.d3.pk},
            {"id": "d3_task", "kind": "action", "action": "create_task", "title": "回访"},
        ],
    }
    if goal:
        definition["goal"] = {"event": "order_paid"}
    return definition


def abandoned_cart(world: World) -> dict[str, Any]:
    return {
        "entry": {"kind": "event", "event": "cart_abandoned"},
        "reentry": {"mode": "always"},
        "nodes": [
            {"id": "wait_pay", "kind": "wait_event", "event": "order_paid", "timeout_minutes": 120,
             "match": {"property": "cart_id", "entry_property": "cart_id"}, "on_timeout": "coupon"},
            {"id": "paid", "kind": "exit"},
            {"id": "coupon", "kind": "action", "action": "issue_coupon", "coupon_template_id": world.template.pk},
        ],
    }
