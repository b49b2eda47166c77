"""Writing a reference Dataset into the OLTP database (so the three evaluators see the same customers), and
evaluating a rule with each of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from siyu.analytics.engine import CopyEngine
from siyu.analytics.engine.copy import ColumnarCopy
from siyu.audiences import evaluate, oracle
from siyu.audiences.context import Context, resolve
from siyu.audiences.reference import Dataset, Happening, Person, Purchase, Reference, supports
from siyu.audiences.rules import Rule, parse_rule, walk
from siyu.customers.models import Customer, CustomerTag, Event
from siyu.orders.models import Order, OrderLine
from siyu.org.scope import Scope

_SEQ = [0]


@dataclass
class Written:
    data: Dataset
    ids: dict[str, int] = field(default_factory=dict)

    def names(self, ids: set[int]) -> set[str]:
        back = {v: k for k, v in self.ids.items()}
        return {back.get(i, str(i)) for i in ids}


def write_people(enterprise_id: int, people: dict[str, dict[str, Any]]) -> Written:
    """people: name -> Customer fields. Returns the Dataset (with the database ids) and name -> id."""
    written = Written(Dataset())
    for name, fields in people.items():
        values = {"created_at": timezone.now(), **fields}
        customer = Customer.objects.create(enterprise_id=enterprise_id, name=name, **values)
        written.ids[name] = customer.pk
        written.data.people.append(Person(
            id=customer.pk, gender=customer.gender, birthday=customer.birthday, region=customer.region,
            home_store_id=customer.home_store_id, created_source=customer.created_source,
            created_at=customer.created_at, phone=customer.phone))
    return written


def add_event(written: Written, enterprise_id: int, who: str, name: str, at: datetime,
              **properties: Any) -> None:
    _SEQ[0] += 1
    customer_id = written.ids[who]
    Event.objects.create(enterprise_id=enterprise_id, customer_id=customer_id, name=name, occurred_at=at,
                         properties=properties, idempotency_key=f"t:{_SEQ[0]}")
    written.data.events.append(Happening(customer_id, name, at, properties))


def add_tag(written: Written, who: str, tag_id: int) -> None:
    CustomerTag.objects.create(customer_id=written.ids[who], tag_id=tag_id)
    written.data.tags.add((written.ids[who], tag_id))


def add_order(written: Written, enterprise_id: int, who: str, *, status: str, paid_at: datetime | None,
              paid_fen: int, refunded_fen: int = 0, lines: tuple[tuple[int, int], ...] = ()) -> None:
    _SEQ[0] += 1
    created = paid_at or timezone.now()
    order = Order.objects.create(
        enterprise_id=enterprise_id, customer_id=written.ids[who], order_no=f"T{_SEQ[0]:08d}", status=status,
        amount_fen=paid_fen, paid_fen=paid_fen, refunded_fen=refunded_fen, created_at=created, paid_at=paid_at)
    for index, (product_id, category_id) in enumerate(lines):
        OrderLine.objects.create(order=order, index=index, product_id=product_id, category_id=category_id,
                                 name=f"p{product_id}", quantity=1)
    written.data.orders.append(Purchase(order.pk, written.ids[who], status, paid_at, paid_fen, refunded_fen, lines))


@dataclass
class Three:
    engine: set[int]
    oracle: set[int]
    reference: set[int] | None


def evaluate_three(rule_data: dict[str, Any], *, enterprise_id: int, now: datetime, data: Dataset | None = None,
                   copy: ColumnarCopy | None = None, scope: Scope | None = None, check: bool = True) -> Three:
    rule: Rule = parse_rule(rule_data)
    ctx: Context = resolve(rule, enterprise_id=enterprise_id, now=now, check=check)
    scopes = [scope or Scope.hq(enterprise_id)]
    own = copy is None
    copy = copy or ColumnarCopy(None, capture_changes=False, threads=1)
    if own:
        copy.build(bulk=False)
    try:
        compiled = evaluate.Compiled(rule, ctx)
        engine_ids = set(evaluate.member_ids(compiled, scopes, engine=CopyEngine(copy)).ids)
    finally:
        if own:
            copy.close()
    oracle_ids = oracle.members(rule, ctx, scopes=scopes)
    reference_ids = None
    if data is not None and all(supports(node) for _path, node in walk(rule.root)):
        reference_ids = Reference(data, ctx).members(rule)
    return Three(engine_ids, oracle_ids, reference_ids)
