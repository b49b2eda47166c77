"""POS / offline order history, beside the platform import: so RFM and repurchase work from the first day.

A CSV (UTF-8 or GBK) with one row per line item, as POS systems export them; the rows of one receipt are adjacent:
store code, POS order number, time, member phone or card number, SKU code, item name, quantity, line amount (yuan).

Decided here:
- Idempotent by (store, POS order number): the order's idempotency key is `pos:<store id>:<number>`, unique per
  enterprise, so importing a file again (or an overlapping one) adds nothing.
- The buyer is found by phone or member card (identities, one query per chunk). The phones nobody has become
  customers (source "store"), set-based per chunk (customers.create_customers_by_phone); a card nobody has leaves
  the order without a customer (reported).
- An order is paid and completed at its time; events order_created / order_paid / order_completed are written
  for orders with a customer, keyed by order id, as the mall's orders are.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.money import parse_yuan
from siyu.customers.models import Identity, IdentityKind
from siyu.customers.services import EventInput, PhoneCustomerInput, append_events, create_customers_by_phone
from siyu.customers.validation import normalize_phone
from siyu.orders.models import Order, OrderLine, OrderSource, OrderStatus
from siyu.orders.services.imports import RowError, _cell, _time
from siyu.org.models import Store
from siyu.org.scope import Scope

CHUNK_ORDERS = 1000
MAX_ROWS = 500_000
ALIASES: dict[str, tuple[str, ...]] = {
    "store_code": ("门店编码", "门店代码", "store_code", "store"),
    "order_no": ("小票号", "POS单号", "单号", "订单号", "pos_order_no", "order_no"),
    "time": ("交易时间", "销售时间", "下单时间", "time", "ordered_at"),
    "phone": ("会员手机号", "手机号", "phone", "mobile"),
    "card_no": ("会员卡号", "卡号", "card_no"),
    "sku_code": ("商品编码", "sku_code"),
    "item": ("商品名称", "品名", "item", "name"),
    "quantity": ("数量", "quantity", "qty"),
    "amount": ("实收金额", "金额", "amount"),
}


@dataclass
class PosLine:
    name: str
    sku_code: str
    quantity: int
    amount_fen: int


@dataclass
class PosOrder:
    row_number: int
    store_id: int
    order_no: str
    ordered_at: datetime
    phone: str
    card_no: str
    lines: list[PosLine] = field(default_factory=list)
    customer_id: int | None = None

    @property
    def key(self) -> str:
        return f"pos:{self.store_id}:{self.order_no}"

    @property
    def amount_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


@dataclass
class HistoryResult:
    rows: int = 0
    orders: int = 0
    duplicates: int = 0
    matched: int = 0
    created_customers: int = 0
    without_customer: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _columns(header: Sequence[str]) -> dict[str, str]:
    normal = {h.strip().lstrip("\ufeff").lower(): h for h in header}
    found = {}
    for key, names in ALIASES.items():
        for name in names:
            if name.lower() in normal:
                found[key] = normal[name.lower()]
                break
    missing = [k for k in ("store_code", "order_no", "time", "amount") if k not in found]
    if "phone" not in found and "card_no" not in found:
        missing.append("phone")
    if missing:
        raise ValidationFailed(_("the file has no column for %(join)s") % {"join": ', '.join(missing)}, field="file",
                               code="missing_columns")
    return found


def _decode(content: str | bytes) -> str:
    if isinstance(content, str):
        return content
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(_("the file is neither UTF-8 nor GBK text"), field="file", code="bad_encoding")


def _line(raw: dict[str, str], cols: dict[str, str]) -> PosLine:
    def get(key: str) -> str:
        return _cell(raw.get(cols[key], "")) if key in cols else ""

    qty_text = get("quantity") or "1"
    if not qty_text.isdigit() or int(qty_text) < 1:
        raise RowError(f"quantity {qty_text!r} is not a whole number of at least 1")
    try:
        amount = parse_yuan(get("amount")).fen
    except ValueError as exc:
        raise RowError(f"amount {get('amount')!r} is not an amount in yuan") from exc
    if amount < 0:
        raise RowError("returns (negative amounts) are not imported")
    return PosLine(name=(get("item") or get("sku_code") or "POS item")[:200], sku_code=get("sku_code")[:64],
                   quantity=int(qty_text), amount_fen=amount)


def _orders(text: str, stores: dict[str, int], now: datetime,
            result: HistoryResult) -> Iterator[PosOrder]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    cols = _columns(reader.fieldnames or [])
    current: PosOrder | None = None
    for number, raw in enumerate(reader, start=2):
        result.rows += 1
        if result.rows > MAX_ROWS:
            raise ValidationFailed(
                _("at most %(MAX_ROWS)s rows per file") % {"MAX_ROWS": MAX_ROWS},
                field="file", code="too_many_rows",
            )
        try:
            store_code = _cell(raw.get(cols["store_code"], ""))
            order_no = _cell(raw.get(cols["order_no"], ""))[:64]
            if current is not None and order_no == current.order_no and stores.get(store_code) == current.store_id:
                current.lines.append(_line(raw, cols))
                continue
            if current is not None:
                yield current
                current = None
            store_id = stores.get(store_code)
            if store_id is None:
                raise RowError(f"no store has the code {store_code!r}")
            if not order_no:
                raise RowError("the POS order number is missing")
            ordered_at = _time(_cell(raw.get(cols["time"], "")), "time")
            if ordered_at > now:
                raise RowError("the order is dated in the future")
            phone_text = _cell(raw.get(cols["phone"], "")) if "phone" in cols else ""
            phone = normalize_phone(phone_text) if phone_text else ""
            card = _cell(raw.get(cols["card_no"], ""))[:64] if "card_no" in cols else ""
            current = PosOrder(row_number=number, store_id=store_id, order_no=order_no, ordered_at=ordered_at,
                               phone=phone, card_no=card, lines=[_line(raw, cols)])
        except (RowError, ValidationFailed) as exc:
            message = exc.message if isinstance(exc, ValidationFailed) else str(exc)
            result.errors.append((number, message))
    if current is not None:
        yield current


def _match(enterprise_id: int, chunk: Sequence[PosOrder], result: HistoryResult) -> None:
    """The buyers: one query for the chunk's phones and cards, then one set-based creation of the customers for the
    phones nobody has (the first receipt of a phone gives its store and time; the phone's later receipts find it)."""
    values = {o.phone for o in chunk if o.phone} | {o.card_no for o in chunk if o.card_no}
    owners = {(kind, value): cid for kind, value, cid in Identity.objects.filter(
        enterprise_id=enterprise_id, kind__in=[IdentityKind.PHONE, IdentityKind.MEMBER_CARD],
        value__in=values).values_list("kind", "value", "customer_id")}
    unknown: list[PosOrder] = []
    for order in chunk:
        order.customer_id = owners.get((IdentityKind.PHONE, order.phone)) or owners.get(
            (IdentityKind.MEMBER_CARD, order.card_no))
        if order.customer_id is not None:
            result.matched += 1
        elif order.phone:
            unknown.append(order)
        else:
            result.without_customer += 1
    if not unknown:
        return
    created = create_customers_by_phone(
        enterprise_id=enterprise_id, created_source="store",
        people=[PhoneCustomerInput(phone=o.phone, home_store_id=o.store_id, created_at=o.ordered_at) for o in unknown])
    seen: set[str] = set()
    for order in unknown:
        order.customer_id = created[order.phone]
        if order.phone in seen:
            result.matched += 1
        else:
            seen.add(order.phone)
            result.created_customers += 1


def _write(enterprise_id: int, chunk: Sequence[PosOrder], result: HistoryResult) -> None:
    keys = {o.key for o in chunk}
    known = set(Order.objects.filter(enterprise_id=enterprise_id, idempotency_key__in=keys).values_list(
        "idempotency_key", flat=True))
    fresh: dict[str, PosOrder] = {}
    for receipt in chunk:
        if receipt.key in known or receipt.key in fresh:
            result.duplicates += 1
        else:
            fresh[receipt.key] = receipt
    if not fresh:
        return
    _match(enterprise_id, list(fresh.values()), result)
    rows = [Order(
        enterprise_id=enterprise_id, customer_id=o.customer_id,
        order_no="S" + timezone.localtime(o.ordered_at).strftime("%y%m%d") + f"{secrets.randbelow(10**14):014d}",
        source=OrderSource.STORE, external_order_no=o.order_no, status=OrderStatus.COMPLETED, store_id=o.store_id,
        channel="store", fulfillment="pickup", list_total_fen=o.amount_fen, subtotal_fen=o.amount_fen,
        amount_fen=o.amount_fen, paid_fen=o.amount_fen, idempotency_key=o.key, created_at=o.ordered_at,
        paid_at=o.ordered_at, completed_at=o.ordered_at, breakdown={"pos_row": o.row_number},
    ) for o in fresh.values()]
    Order.objects.bulk_create(rows, ignore_conflicts=True)
    mine = list(Order.objects.filter(enterprise_id=enterprise_id, idempotency_key__in=list(fresh)))
    lines = []
    events: list[EventInput] = []
    for order in mine:
        pos = fresh[order.idempotency_key]
        for index, line in enumerate(pos.lines):
            lines.append(OrderLine(order=order, index=index, name=line.name, quantity=line.quantity,
                                   price_source="pos", unit_list_price_fen=line.amount_fen // line.quantity,
                                   unit_price_fen=line.amount_fen // line.quantity, list_amount_fen=line.amount_fen,
                                   amount_fen=line.amount_fen, payable_fen=line.amount_fen))
        if order.customer_id is None:
            continue
        base = {"order_id": order.pk, "order_no": order.order_no}
        for name, props in (
            ("order_created", {**base, "amount_fen": order.amount_fen, "currency": order.currency,
                               "items": sum(x.quantity for x in pos.lines), "source": OrderSource.STORE}),
            ("order_paid", {**base, "amount_fen": order.amount_fen, "currency": order.currency, "stage": "full"}),
            ("order_completed", {**base, "amount_fen": order.amount_fen}),
        ):
            events.append(EventInput(name=name, occurred_at=pos.ordered_at, idempotency_key=f"{name}:{order.pk}",
                                     customer_id=order.customer_id, channel="store", store_id=order.store_id,
                                     properties=props))
    OrderLine.objects.bulk_create(lines)
    for start in range(0, len(events), 5000):
        append_events(enterprise_id=enterprise_id, batch=events[start:start + 5000])
    result.orders += len(mine)
    result.duplicates += len(fresh) - len(mine)


def import_order_history(*, scope: Scope, content: str | bytes, filename: str = "", actor: Actor = None,
                         now: datetime | None = None) -> HistoryResult:
    """Import a POS history file: each chunk of receipts in its own transaction (a crash keeps what committed, and
    running the file again completes it without duplicates)."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ imports order history"))
    moment = now or timezone.now()
    text = _decode(content)
    stores = dict(Store.objects.filter(enterprise_id=scope.enterprise_id).values_list("code", "id"))
    result = HistoryResult()
    chunk: list[PosOrder] = []
    for order in _orders(text, stores, moment, result):
        chunk.append(order)
        if len(chunk) >= CHUNK_ORDERS:
            with transaction.atomic():
                _write(scope.enterprise_id, chunk, result)
            chunk = []
    if chunk:
        with transaction.atomic():
            _write(scope.enterprise_id, chunk, result)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="orders.history_import",
                 target_type="order_history", target_id=filename[:64] or "-",
                 summary=audit.text(N_("%(orders)s orders, %(duplicates)s already there, %(errors)s errors"),
                                    orders=result.orders, duplicates=result.duplicates, errors=len(result.errors)))
    return result
