"""Import of orders from public platforms (Tmall/Taobao, JD, Douyin...) from their CSV order exports.

Matching (decided here, documented in docs/orders.md):
- A row with a full mobile number is matched by that phone, or by the buyer id; where neither is known the buyer
  becomes a new customer with created_source "platform" (not yet in the private domain: they have no WeCom, Official
  Account or mini-program identity, which is what puts them on the SMS invitation list until they join).
- A row whose phone is masked (138****1234) is matched only by the platform buyer id; if nobody has it, the order
  is imported without a customer and the row is reported as unmatched (a package-insert card is the way in).
  A phone that is neither masked nor a valid mobile number (a digit short, letters) is treated the same way but
  reported as invalid (`invalid_phone`), so a bad export is not mistaken for the platform's masking; with no buyer
  id either, the row is an error that says the phone is invalid.
- Buyer ids are identities of kind `platform_buyer_id`, value `<platform>:<buyer id>` (ids of two platforms never
  clash), account = the platform.
- Idempotent: an order is unique per (enterprise, platform, external order number); importing a file again adds
  nothing, but links an order imported without a customer to the customer who can now be matched.

Set-based per chunk of CHUNK rows: one query each for existing orders and for the identities behind the chunk's
phones and buyer ids; bulk inserts of orders, lines, report rows and events. Only buyers who are new or whose
identities must be attached (or merged) go through customers.resolve_customer one by one.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.catalog import queries as catalog_queries
from siyu.core import audit, jobs
from siyu.core.audit import Actor
from siyu.core.errors import NotFound, PermissionDenied, ValidationFailed
from siyu.core.money import parse_yuan
from siyu.core.timeutil import SHANGHAI
from siyu.customers.models import Identity, IdentityKind
from siyu.customers.services import EventInput, IdentityInput, ingest_events, resolve_customer
from siyu.customers.validation import normalize_phone
from siyu.orders.models import (
    UNMATCHED_OUTCOMES,
    ImportStatus,
    Order,
    OrderLine,
    OrderSource,
    OrderStatus,
    Platform,
    PlatformImport,
    PlatformImportRow,
    RowOutcome,
)
from siyu.org.scope import Scope

CHUNK = 500
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000

# Column names as the platforms export them (Tmall/Taobao 订单报表, JD 订单导出), plus plain English ones.
ALIASES: dict[str, tuple[str, ...]] = {
    "order_no": ("订单编号", "订单号", "订单ID", "order_no", "order id"),
    "buyer_id": ("买家ID", "买家会员ID", "买家账号ID", "用户ID", "下单账号", "下单帐号", "客户账号", "buyer_id"),
    "buyer_nick": ("买家会员名", "买家昵称", "会员名", "buyer_nick"),
    "phone": ("联系手机", "收货人手机", "手机", "手机号", "联系电话", "phone", "mobile"),
    "items": ("宝贝标题", "商品名称", "商品标题", "items"),
    "sku_codes": ("商家编码", "商品编码", "sku_code", "sku_codes"),
    "quantity": ("宝贝总数量", "订购数量", "商品数量", "quantity"),
    "total": ("总金额", "订单金额", "商品总金额", "total_amount", "total"),
    "paid": ("买家实际支付金额", "实付金额", "应付金额", "paid_amount", "paid"),
    "created": ("订单创建时间", "下单时间", "created_at"),
    "paid_at": ("订单付款时间", "付款时间", "paid_at"),
    "status": ("订单状态", "status"),
    "receiver": ("收货人姓名", "收货人", "receiver"),
}
STATUS_WORDS: tuple[tuple[str, str], ...] = (
    ("交易成功", OrderStatus.COMPLETED), ("已完成", OrderStatus.COMPLETED), ("完成", OrderStatus.COMPLETED),
    ("completed", OrderStatus.COMPLETED),
    ("已发货", OrderStatus.SHIPPED), ("等待买家确认收货", OrderStatus.SHIPPED), ("shipped", OrderStatus.SHIPPED),
    ("等待卖家发货", OrderStatus.PAID), ("买家已付款", OrderStatus.PAID), ("等待出库", OrderStatus.PAID),
    ("paid", OrderStatus.PAID),
    ("交易关闭", OrderStatus.CANCELLED), ("已取消", OrderStatus.CANCELLED), ("取消", OrderStatus.CANCELLED),
    ("cancelled", OrderStatus.CANCELLED),
    ("等待买家付款", OrderStatus.PENDING_PAYMENT), ("等待付款", OrderStatus.PENDING_PAYMENT),
    ("pending", OrderStatus.PENDING_PAYMENT),
)
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d",
                 "%Y/%m/%d")
_ITEM_SPLIT = re.compile(r"[;；|]")
_QTY_SUFFIX = re.compile(r"\s*[×xX*]\s*(\d{1,4})\s*$")


class RowError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------------------------
# Parsing


def _cell(raw: str | None) -> str:
    """Exports quote long numbers as ="2088..." or '2088... so spreadsheets keep them: unwrap those."""
    text = (raw or "").strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    return text.lstrip("'").strip()


def _columns(header: Sequence[str]) -> dict[str, str]:
    normal = {h.strip().lstrip("\ufeff").lower(): h for h in header}
    found = {}
    for key, names in ALIASES.items():
        for name in names:
            if name.lower() in normal:
                found[key] = normal[name.lower()]
                break
    missing = [k for k in ("order_no", "created") if k not in found]
    if "paid" not in found and "total" not in found:
        missing.append("paid")
    if "buyer_id" not in found and "phone" not in found:
        missing.append("buyer_id")
    if missing:
        raise ValidationFailed(_("the file has no column for %(join)s") % {"join": ', '.join(missing)}, field="file",
                               code="missing_columns")
    return found


def _reader(content: str) -> tuple[csv.DictReader[str], dict[str, str]]:
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    if not reader.fieldnames:
        raise ValidationFailed(_("the file is empty"), field="file", code="empty_file")
    return reader, _columns(reader.fieldnames)


def _time(text: str, what: str) -> datetime:
    for fmt in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)  # noqa: DTZ007 - platform exports are Beijing time
        except ValueError:
            continue
        return parsed.replace(tzinfo=SHANGHAI)
    raise RowError(f"{what} {text!r} is not a date and time")


def _status(text: str, paid_at: datetime | None) -> str:
    for word, status in STATUS_WORDS:
        if word in text.lower():
            if status == OrderStatus.CANCELLED and paid_at is not None:
                return OrderStatus.REFUNDED  # closed after payment: the platform refunded it
            return status
    return OrderStatus.COMPLETED if paid_at is not None else OrderStatus.PENDING_PAYMENT


@dataclass
class Item:
    name: str
    quantity: int
    sku_code: str = ""


def _split_items(text: str) -> list[tuple[str, int | None]]:
    out: list[tuple[str, int | None]] = []
    for part in _ITEM_SPLIT.split(text):
        part = part.strip()
        if not part:
            continue
        match = _QTY_SUFFIX.search(part)
        if match:
            out.append((part[: match.start()].strip(), int(match.group(1))))
        else:
            out.append((part, None))
    return out


def _items(row: dict[str, str], cols: dict[str, str]) -> list[Item]:
    names = _split_items(_cell(row.get(cols.get("items", ""), "")))
    codes = _split_items(_cell(row.get(cols.get("sku_codes", ""), "")))
    total_text = _cell(row.get(cols.get("quantity", ""), ""))
    total = int(total_text) if total_text.isdigit() else None
    if not names:
        names = [(code, q) for code, q in codes] or [("", None)]
    items = []
    for index, (name, quantity) in enumerate(names):
        code_q = codes[index] if index < len(codes) else ("", None)
        q = quantity or code_q[1] or (total if len(names) == 1 and total else 1)
        items.append(Item(name=(name or code_q[0] or "platform item")[:200], quantity=max(1, q),
                          sku_code=code_q[0]))
    return items


@dataclass
class Parsed:
    row_number: int
    order_no: str
    buyer_id: str
    buyer_nick: str
    phone_text: str
    phone: str  # the full number, or "" when masked / missing / invalid
    phone_invalid: bool  # a phone was given, not masked, and is no valid mobile number
    receiver: str
    items: list[Item]
    amount_fen: int
    total_fen: int
    created_at: datetime
    paid_at: datetime | None
    status: str
    customer_id: int | None = None
    outcome: str = ""  # matched / created_customer / unmatched
    message: str = ""


def _money(row: dict[str, str], cols: dict[str, str], key: str) -> int | None:
    text = _cell(row.get(cols[key], "")) if key in cols else ""
    if not text:
        return None
    try:
        fen = parse_yuan(text).fen
    except ValueError as exc:
        raise RowError(f"{text!r} is not an amount") from exc
    if fen < 0:
        raise RowError(f"{text!r} is negative")
    return fen


def _phone(text: str) -> tuple[str, bool]:
    """(the full number or "", whether the text was a phone that is invalid rather than masked or missing)."""
    if not text or "*" in text:
        return "", False
    try:
        return normalize_phone(text), False
    except ValidationFailed:
        return "", True


def _dates(row: dict[str, str], cols: dict[str, str], now: datetime) -> tuple[datetime, datetime | None]:
    created = _time(_cell(row.get(cols["created"], "")), "created time")
    paid_text = _cell(row.get(cols["paid_at"], "")) if "paid_at" in cols else ""
    paid_at = _time(paid_text, "payment time") if paid_text else None
    if created > now or (paid_at is not None and paid_at > now):
        raise RowError("the order is dated in the future")
    return created, paid_at


def parse_row(row_number: int, row: dict[str, str], cols: dict[str, str], now: datetime) -> Parsed:
    """One CSV row; raises RowError with a readable reason."""
    order_no = _cell(row.get(cols["order_no"], ""))
    if not order_no or len(order_no) > 64:
        raise RowError("the order number is missing or too long")
    buyer_id = _cell(row.get(cols["buyer_id"], ""))[:64] if "buyer_id" in cols else ""
    phone_text = _cell(row.get(cols["phone"], ""))[:20] if "phone" in cols else ""
    phone, phone_invalid = _phone(phone_text)
    if not buyer_id and phone_invalid:
        raise RowError(f"the phone {phone_text!r} is not a valid mobile number, and there is no buyer id")
    if not buyer_id and not phone:
        raise RowError("neither a buyer id nor a full phone number")
    amount = _money(row, cols, "paid")
    total = _money(row, cols, "total")
    if amount is None and total is None:
        raise RowError("no amount")
    created, paid_at = _dates(row, cols, now)
    status_text = _cell(row.get(cols["status"], "")) if "status" in cols else ""
    return Parsed(
        row_number=row_number, order_no=order_no, buyer_id=buyer_id,
        buyer_nick=_cell(row.get(cols["buyer_nick"], ""))[:64] if "buyer_nick" in cols else "",
        phone_text=phone_text, phone=phone, phone_invalid=phone_invalid,
        receiver=_cell(row.get(cols["receiver"], ""))[:64] if "receiver" in cols else "",
        items=_items(row, cols), amount_fen=amount if amount is not None else (total or 0),
        total_fen=max(total or 0, amount or 0), created_at=created, paid_at=paid_at,
        status=_status(status_text, paid_at),
    )


# ---------------------------------------------------------------------------------------------------------------
# Matching


def buyer_value(platform: str, buyer_id: str) -> str:
    return f"{platform}:{buyer_id}"


class _Matcher:
    """Finds the customers behind a chunk's phones and buyer ids with two queries, then resolves the rest."""

    def __init__(self, enterprise_id: int, platform: str, rows: Sequence[Parsed]) -> None:
        self.enterprise_id = enterprise_id
        self.platform = platform
        phones = {r.phone for r in rows if r.phone}
        buyers = {buyer_value(platform, r.buyer_id) for r in rows if r.buyer_id}
        query = Q(kind=IdentityKind.PHONE, value__in=phones) | Q(kind=IdentityKind.PLATFORM_BUYER_ID,
                                                                  value__in=buyers)
        self.owners: dict[tuple[str, str], int] = {
            (kind, value): cid for kind, value, cid in Identity.objects.filter(
                query, enterprise_id=enterprise_id).values_list("kind", "value", "customer_id")
        }
        self.created = 0

    def _identities(self, row: Parsed) -> list[IdentityInput]:
        out = []
        if row.phone:
            out.append(IdentityInput(kind=IdentityKind.PHONE, value=row.phone))
        if row.buyer_id:
            out.append(IdentityInput(kind=IdentityKind.PLATFORM_BUYER_ID,
                                     value=buyer_value(self.platform, row.buyer_id), account=self.platform))
        return out

    def match(self, row: Parsed) -> None:
        identities = self._identities(row)
        owners = {self.owners.get((i.kind, i.value)) for i in identities}
        known = owners - {None}
        if len(known) == 1 and None not in owners:
            row.customer_id, row.outcome = known.pop(), "matched"  # everything already on one customer
            return
        if not row.phone and not known:
            row.outcome = RowOutcome.INVALID_PHONE if row.phone_invalid else RowOutcome.UNMATCHED
            if row.phone_invalid:
                row.message = f"the phone {row.phone_text!r} is not a valid mobile number"
            return
        self._resolve(row, identities, bool(known))

    def _resolve(self, row: Parsed, identities: list[IdentityInput], known: bool) -> None:
        defaults = {"created_source": "platform", "name": (row.receiver or row.buyer_nick)[:64],
                    "phone": row.phone, "created_at": row.created_at}
        customer = resolve_customer(enterprise_id=self.enterprise_id, identities=identities, defaults=defaults)
        for identity in identities:
            self.owners[(identity.kind, identity.value)] = customer.pk
        row.customer_id = customer.pk
        row.outcome = "matched" if known else "created_customer"
        if not known:
            self.created += 1


# ---------------------------------------------------------------------------------------------------------------
# Writing a chunk


@dataclass
class ChunkResult:
    rows: int = 0
    imported: int = 0
    duplicates: int = 0
    matched: int = 0
    created_customers: int = 0
    unmatched: int = 0
    errors: int = 0


def _sku_ids(enterprise_id: int, rows: Sequence[Parsed]) -> dict[str, tuple[int, int, int, int]]:
    """SKU code → (sku id, product id, category id, list price) for the codes the chunk names."""
    codes = {item.sku_code for row in rows for item in row.items if item.sku_code}
    if not codes:
        return {}
    skus = catalog_queries.skus(Scope.hq(enterprise_id, label="import")).filter(code__in=codes).values_list(
        "code", "id", "product_id", "product__category_id", "price_fen")
    return {code: (sku_id, product_id, category_id, price) for code, sku_id, product_id, category_id, price in skus}


def _order_row(imp: PlatformImport, row: Parsed) -> Order:
    paid = row.paid_at is not None and row.status != OrderStatus.PENDING_PAYMENT
    return Order(
        enterprise_id=imp.enterprise_id, customer_id=row.customer_id,
        order_no="P" + timezone.localtime(row.created_at).strftime("%y%m%d") + f"{secrets.randbelow(10**14):014d}",
        source=OrderSource.PLATFORM, platform=imp.platform, external_order_no=row.order_no, status=row.status,
        channel="platform", list_total_fen=row.total_fen, subtotal_fen=row.total_fen,
        reduction_discount_fen=row.total_fen - row.amount_fen, amount_fen=row.amount_fen,
        paid_fen=row.amount_fen if paid else 0,
        refunded_fen=row.amount_fen if row.status == OrderStatus.REFUNDED else 0,
        breakdown={"import_id": imp.pk, "row": row.row_number, "buyer_nick": row.buyer_nick,
                   "list_total_fen": row.total_fen, "payable_fen": row.amount_fen},
        idempotency_key=f"import:{imp.pk}:{row.row_number}", created_at=row.created_at,
        paid_at=row.paid_at if paid else None,
        cancelled_at=row.created_at if row.status == OrderStatus.CANCELLED else None,
        refunded_at=row.paid_at if row.status == OrderStatus.REFUNDED else None,
    )


def _weights(row: Parsed, skus: Mapping[str, tuple[int, int, int, int]]) -> list[int]:
    """How the order's amounts are spread over its items: by our list price when every item names a known SKU with
    a price, else by quantity."""
    known = [skus.get(item.sku_code) for item in row.items]
    if all(sku is not None and sku[3] > 0 for sku in known):
        return [sku[3] * item.quantity for sku, item in zip(known, row.items, strict=True) if sku is not None]
    return [item.quantity for item in row.items]


def split(total: int, weights: Sequence[int]) -> list[int]:
    """`total` fen over positive `weights` in proportion, in whole fen: largest remainder, ties to the earlier one.
    (Unlike pricing.allocate, the total may exceed the weights: a platform's price is not ours.)"""
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _line_rows(order: Order, row: Parsed, skus: dict[str, tuple[int, int, int, int]]) -> list[OrderLine]:
    weights = _weights(row, skus)
    payable = split(order.amount_fen, weights)
    listed = split(order.list_total_fen, weights)
    out = []
    for index, (item, pay, lst) in enumerate(zip(row.items, payable, listed, strict=True)):
        sku = skus.get(item.sku_code)
        out.append(OrderLine(
            order=order, index=index, sku_id=sku[0] if sku else None, product_id=sku[1] if sku else None,
            category_id=sku[2] if sku else None, name=item.name, quantity=item.quantity, price_source="platform",
            unit_list_price_fen=lst // item.quantity, unit_price_fen=pay // item.quantity, list_amount_fen=lst,
            amount_fen=lst, reduction_discount_fen=lst - pay, payable_fen=pay,
            refunded_quantity=item.quantity if order.status == OrderStatus.REFUNDED else 0,
            refunded_fen=pay if order.status == OrderStatus.REFUNDED else 0,
        ))
    return out


def _events(orders: Sequence[Order], lines: dict[int, list[OrderLine]]) -> list[EventInput]:
    out = []
    for order in orders:
        if order.customer_id is None:
            continue
        own = lines.get(order.pk, [])
        base = {"order_id": order.pk, "order_no": order.order_no}
        common: dict[str, Any] = {"customer_id": order.customer_id, "channel": "platform"}
        out.append(EventInput(
            name="order_created", occurred_at=order.created_at, idempotency_key=f"order_created:{order.pk}",
            properties={**base, "amount_fen": order.amount_fen, "currency": order.currency,
                        "items": sum(x.quantity for x in own), "source": OrderSource.PLATFORM,
                        "platform": order.platform,
                        "product_ids": sorted({x.product_id for x in own if x.product_id})[:100],
                        "category_ids": sorted({x.category_id for x in own if x.category_id})[:100]},
            **common))
        if order.paid_at is not None:
            out.append(EventInput(
                name="order_paid", occurred_at=order.paid_at, idempotency_key=f"order_paid:{order.pk}",
                properties={**base, "amount_fen": order.amount_fen, "currency": order.currency, "stage": "full"},
                **common))
        if order.status == OrderStatus.COMPLETED and order.paid_at is not None:
            out.append(EventInput(
                name="order_completed", occurred_at=order.paid_at, idempotency_key=f"order_completed:{order.pk}",
                properties={**base, "amount_fen": order.amount_fen}, **common))
    return out


def _report_row(imp: PlatformImport, row: Parsed) -> PlatformImportRow:
    return PlatformImportRow(
        platform_import=imp, row_number=row.row_number, outcome=row.outcome, platform=imp.platform,
        order_no=row.order_no, buyer_id=row.buyer_id, buyer_nick=row.buyer_nick, phone=row.phone_text,
        amount_fen=row.amount_fen, ordered_at=row.created_at, customer_id=row.customer_id,
        message=row.message[:255],
    )


def _error_row(imp: PlatformImport, row_number: int, raw: dict[str, str], cols: dict[str, str],
               message: str) -> PlatformImportRow:
    def get(key: str) -> str:
        return _cell(raw.get(cols[key], ""))[:64] if key in cols else ""

    return PlatformImportRow(platform_import=imp, row_number=row_number, outcome=RowOutcome.ERROR,
                             platform=imp.platform, order_no=get("order_no"), buyer_id=get("buyer_id"),
                             buyer_nick=get("buyer_nick"), phone=get("phone")[:20], message=message[:255])


def _insert(imp: PlatformImport, fresh: list[Parsed]) -> int:
    """Insert the chunk's new orders; a concurrent import of the same file may win some (they are skipped)."""
    if not fresh:
        return 0
    Order.objects.bulk_create([_order_row(imp, row) for row in fresh], ignore_conflicts=True)
    keys = {f"import:{imp.pk}:{row.row_number}": row for row in fresh}
    mine = list(Order.objects.filter(enterprise_id=imp.enterprise_id, idempotency_key__in=list(keys)))
    skus = _sku_ids(imp.enterprise_id, fresh)
    lines = {order.pk: _line_rows(order, keys[order.idempotency_key], skus) for order in mine}
    OrderLine.objects.bulk_create([line for rows in lines.values() for line in rows])
    events = _events(mine, lines)
    for start in range(0, len(events), 5000):
        ingest_events(enterprise_id=imp.enterprise_id, batch=events[start:start + 5000])
    return len(mine)


def _link_unmatched(imp: PlatformImport, known: Mapping[str, int | None], rows: Sequence[Parsed]) -> None:
    """Orders imported earlier without a customer whose buyer can now be matched get their customer, and the buyer
    leaves the package-insert list. (Only rows that were unmatched before: a handful.)"""
    for row in rows:
        if row.customer_id is not None and known.get(row.order_no, 0) is None:
            Order.objects.filter(enterprise_id=imp.enterprise_id, platform=imp.platform,
                                 external_order_no=row.order_no, customer__isnull=True).update(
                customer_id=row.customer_id)
            PlatformImportRow.objects.filter(
                platform_import__enterprise_id=imp.enterprise_id, platform=imp.platform, buyer_id=row.buyer_id,
                outcome__in=UNMATCHED_OUTCOMES, customer__isnull=True).update(customer_id=row.customer_id)


def _chunk(imp: PlatformImport, chunk: Sequence[tuple[int, dict[str, str]]], cols: dict[str, str],
           now: datetime) -> ChunkResult:
    result = ChunkResult(rows=len(chunk))
    parsed: list[Parsed] = []
    report: list[PlatformImportRow] = []
    for row_number, raw in chunk:
        try:
            parsed.append(parse_row(row_number, raw, cols, now))
        except RowError as exc:
            report.append(_error_row(imp, row_number, raw, cols, str(exc)))
    result.errors = len(report)
    known = dict(Order.objects.filter(enterprise_id=imp.enterprise_id, platform=imp.platform,
                                      external_order_no__in=[r.order_no for r in parsed]).values_list(
        "external_order_no", "customer_id"))
    seen: set[str] = set()
    fresh = []
    matcher = _Matcher(imp.enterprise_id, imp.platform, parsed)
    for row in parsed:
        matcher.match(row)
        if row.order_no in known or row.order_no in seen:
            result.duplicates += 1
        else:
            seen.add(row.order_no)
            fresh.append(row)
        if row.outcome != "matched":
            report.append(_report_row(imp, row))
    result.matched = sum(1 for r in parsed if r.outcome == "matched")
    result.created_customers = matcher.created
    result.unmatched = sum(1 for r in parsed if r.outcome in UNMATCHED_OUTCOMES)
    result.imported = _insert(imp, fresh)
    result.duplicates += len(fresh) - result.imported
    _link_unmatched(imp, known, parsed)
    PlatformImportRow.objects.bulk_create(report)
    return result


# ---------------------------------------------------------------------------------------------------------------
# The import job


def _require_hq(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ imports platform orders"))


def create_platform_import(
    *, scope: Scope, platform: str, content: str | bytes, filename: str = "", actor: Actor = None,
    enqueue: bool = True,
) -> PlatformImport:
    """Check an uploaded export (platform, size, encoding, the columns it needs) and queue it for the worker."""
    _require_hq(scope)
    if platform not in Platform.values:
        raise ValidationFailed(
            _("platform is one of %(join)s") % {"join": ', '.join(Platform.values)},
            field="platform",
            code="unknown_platform",
        )
    text = _decode(content)
    reader, _cols = _reader(text)
    total = sum(1 for _row in reader)
    if total == 0:
        raise ValidationFailed(_("the file has a header but no rows"), field="file", code="empty_file")
    if total > MAX_ROWS:
        raise ValidationFailed(
            _("at most %(MAX_ROWS)s rows per file") % {"MAX_ROWS": MAX_ROWS},
            field="file", code="too_many_rows",
        )
    with transaction.atomic():
        imp = PlatformImport.objects.create(enterprise_id=scope.enterprise_id, platform=platform,
                                            filename=(filename or "")[:200], content=text, total_rows=total,
                                            created_by=audit.user_of(actor))
        audit.record(enterprise_id=scope.enterprise_id,
                     actor=actor, action="orders.import", target_type="platform_import", target_id=imp.pk,
                     summary=audit.ntext(
                         N_("%(platform)s %(file)s (%(count)s row)"),
                         N_("%(platform)s %(file)s (%(count)s rows)"),
                         total, platform=platform, file=filename or ""))
        if enqueue:
            transaction.on_commit(lambda: jobs.get("run_platform_import_task").enqueue(imp.pk))
    return imp


def _decode(content: str | bytes) -> str:
    if isinstance(content, str):
        return content
    if len(content) > MAX_BYTES:
        raise ValidationFailed(_("the file is larger than 20 MB"), field="file", code="too_large")
    for encoding in ("utf-8-sig", "gb18030"):  # platform exports are UTF-8 or GBK
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(_("the file is neither UTF-8 nor GBK text"), field="file", code="bad_encoding")


def _chunks(reader: Iterator[dict[str, str]]) -> Iterator[list[tuple[int, dict[str, str]]]]:
    chunk: list[tuple[int, dict[str, str]]] = []
    for number, row in enumerate(reader, start=2):  # row 1 is the header
        chunk.append((number, row))
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_platform_import(*, import_id: int, now: datetime | None = None) -> str:
    """Process a queued import chunk by chunk, each chunk in its own transaction with the progress counters (the
    console polls them). Runs once: the queued → running move is a conditional UPDATE."""
    moment = now or timezone.now()
    claimed = PlatformImport.objects.filter(pk=import_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=moment)
    if not claimed:
        return "skipped"
    imp = PlatformImport.objects.get(pk=import_id)
    try:
        reader, cols = _reader(imp.content)
        for chunk in _chunks(iter(reader)):
            with transaction.atomic():
                r = _chunk(imp, chunk, cols, moment)
                PlatformImport.objects.filter(pk=imp.pk).update(
                    processed_rows=F("processed_rows") + r.rows, imported=F("imported") + r.imported,
                    duplicates=F("duplicates") + r.duplicates, matched=F("matched") + r.matched,
                    created_customers=F("created_customers") + r.created_customers,
                    unmatched=F("unmatched") + r.unmatched, errors=F("errors") + r.errors)
    except Exception as exc:
        PlatformImport.objects.filter(pk=imp.pk).update(status=ImportStatus.FAILED, finished_at=timezone.now(),
                                                        error_message=str(exc)[:255])
        raise
    PlatformImport.objects.filter(pk=imp.pk).update(status=ImportStatus.DONE, finished_at=timezone.now())
    return "done"


def import_platform_orders(
    *, scope: Scope, platform: str, content: str | bytes, filename: str = "", actor: Actor = None,
    now: datetime | None = None,
) -> PlatformImport:
    """Import a file now (the API and tests): check, then process every chunk before returning the report."""
    imp = create_platform_import(scope=scope, platform=platform, content=content, filename=filename, actor=actor,
                                 enqueue=False)
    run_platform_import(import_id=imp.pk, now=now)
    found = PlatformImport.objects.filter(pk=imp.pk).first()
    if found is None:
        raise NotFound(_("import %(pk)s not found") % {"pk": imp.pk}, field="import_id")
    return found
