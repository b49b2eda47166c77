"""The WeChat Pay trade bill (type ALL), read as a stream: shared/protocol/wechatpay-v3.md §9.

The file: a header row of the 27 column names, one row per payment or refund with every value prefixed by a
backtick, then the summary header and one summary row (7 backtick-prefixed values). Amounts are yuan with two
decimals (the fee has five); they become integer fen (the fee thousandths of a fen) by exact string arithmetic,
never through float. Values holding a comma or a quote arrive RFC 4180-quoted; a value that was not quoted but holds
a comma shows itself because every real value starts with a backtick, so a piece without one is glued back to the
one before it. A backslash is an ordinary character (no escape character), so a product name may end with one.

`TradeBillReader` yields `BillLine`s and, once the rows are exhausted, checks that they add up to the summary block
(count and every total): a bill that does not is refused with `BillError`, as is any row that is not what the format
says. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
          "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
          "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注").split(",")
SUMMARY = ("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,"
           "手续费总金额,订单总金额,申请退款总金额").split(",")
COLUMNS = len(HEADER)  # 27
MAX_AMOUNT_DIGITS = 13
MAX_TEXT = 256

(TIME, APPID, MCHID, SUB_MCHID, DEVICE, TRANSACTION_ID, OUT_TRADE_NO, OPENID, TRADE_TYPE, TRADE_STATE, BANK,
 CURRENCY, SETTLE, COUPON, REFUND_ID, OUT_REFUND_NO, REFUND, COUPON_REFUND, REFUND_TYPE, REFUND_STATUS, PRODUCT,
 ATTACH, FEE, RATE, ORDER, ASKED, RATE_NOTE) = range(COLUMNS)


class BillError(Exception):
    """The bill is not one we can believe: `code` says what (bad_header, bad_row, bad_amount, wrong_merchant,
    no_summary, summary_mismatch, ...), `line` where (1-based, as a spreadsheet shows it)."""

    def __init__(self, code: str, message: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.code = code
        self.message = message
        self.line = line


class BillLine(NamedTuple):
    """One detail row. `subject` is "P" (a payment: 交易状态 SUCCESS, REVOKED...) or "R" (a refund: 交易状态 REFUND).
    `traded_at` is the bill's own text (China Standard Time), `fee_milli` thousandths of a fen (signed)."""

    line: int  # the fields' names and order are the staging table's (siyu.finance.reconciliation)
    subject: str
    traded_at: str
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    trade_state: str
    refund_status: str
    currency: str
    settle_fen: int
    coupon_fen: int
    refund_fen: int
    coupon_refund_fen: int
    order_fen: int
    asked_fen: int
    fee_milli: int
    product: str


@dataclass
class Summary:
    count: int = 0
    settle_fen: int = 0
    refund_fen: int = 0
    coupon_refund_fen: int = 0
    fee_milli: int = 0
    order_fen: int = 0
    asked_fen: int = 0


def _decimal(text: str, places: int, line: int, column: str) -> int:
    """`text` (yuan, at most `places` decimals, optional minus) as an integer of 10**-places yuan, exactly."""
    whole, dot, frac = text.partition(".")
    negative = whole.startswith("-")
    digits = whole[1:] if negative else whole
    if not (digits.isascii() and digits.isdigit() and len(digits) <= MAX_AMOUNT_DIGITS) \
            or (dot and not (frac.isascii() and frac.isdigit() and len(frac) <= places)):
        raise BillError("bad_amount", f"{column} {text!r} is not an amount in yuan", line)
    value = int(digits) * 10**places + (int(frac) * 10 ** (places - len(frac)) if frac else 0)
    return -value if negative else value


def _fast(text: str, places: int) -> int | None:
    """The common shape (digits, a dot, exactly `places` decimals, maybe a minus) at C speed; None otherwise."""
    if len(text) > places + 1 and text[-places - 1] == ".":
        digits = text[:-places - 1] + text[-places:]
        body = digits[1:] if digits[0] == "-" else digits
        if body.isdigit() and body.isascii() and len(body) <= MAX_AMOUNT_DIGITS + places:
            return int(digits)
    return None


def fen(text: str, line: int = 0, column: str = "amount") -> int:
    value = _fast(text, 2)
    return _decimal(text, 2, line, column) if value is None else value


def fee_milli(text: str, line: int = 0) -> int:
    """The fee (five decimals of yuan) in thousandths of a fen."""
    value = _fast(text, 5)
    return _decimal(text, 5, line, "手续费") if value is None else value


_SEP = "\x00"
_SEP_TICK = "\x00`"
_AMOUNTS = re.compile(r"(?:-?\d{1,13}\.\d\d\x00){6}-?\d{1,13}\.\d{5}", re.ASCII)


def _values(fields: list[str], line: int) -> list[str]:
    """The 27 values of a detail row without their backticks (pieces of an unquoted value holding a comma glued
    back together). The common row (27 values, each with its backtick, none quoted after it) is split at C speed."""
    if len(fields) == COLUMNS:
        joined = _SEP.join(fields)
        if joined[:1] == "`" and joined.count(_SEP) == COLUMNS - 1 and joined.count(_SEP_TICK) == COLUMNS - 1 \
                and '\x00`"' not in joined and not joined.startswith('`"'):
            return joined[1:].split(_SEP_TICK)
    return _slow_values(fields, line)


def _slow_values(fields: list[str], line: int) -> list[str]:
    if len(fields) != COLUMNS:
        glued: list[str] = []
        for piece in fields:
            if piece.startswith("`") or not glued:
                glued.append(piece)
            else:
                glued[-1] += "," + piece
        fields = glued
    if len(fields) != COLUMNS:
        raise BillError("bad_row", f"{len(fields)} values where the bill has {COLUMNS}", line)
    out = []
    for value in fields:
        if not value.startswith("`"):
            raise BillError("bad_row", "a value without its backtick", line)
        text = value[1:]
        if len(text) >= 2 and text[0] == '"' and text[-1] == '"':  # quoted after the backtick
            text = text[1:-1].replace('""', '"')
        out.append(text)
    return out


def _is(fields: list[str], names: list[str]) -> bool:
    return [f.strip().lstrip("\ufeff") for f in fields] == names


class TradeBillReader:
    """Iterate over the detail rows of an ALL trade bill; the summary is checked when the rows run out."""

    def __init__(self, lines: Iterable[str], *, mch_id: str) -> None:
        self._reader = csv.reader(lines)
        self.mch_id = mch_id
        self.summary: Summary | None = None
        self.totals = Summary()

    def __iter__(self) -> Iterator[BillLine]:
        reader = self._reader
        first = next(reader, None)
        if first is None or not _is(first, HEADER):
            raise BillError("bad_header", "the first row is not the ALL trade bill's header", 1)
        count = settle = refund = coupon_refund = fee = order = asked = 0
        for fields in reader:
            if not fields:
                continue
            line = reader.line_num
            if fields[0][:1] != "`" and _is(fields, SUMMARY):
                self.totals = Summary(count, settle, refund, coupon_refund, fee, order, asked)
                self._summary(next(reader, None), reader.line_num)
                self._rest(reader)
                self._check()
                return
            row = self._row(_values(fields, line), line)
            count += 1
            settle += row[10]
            refund += row[12]
            coupon_refund += row[13]
            order += row[14]
            asked += row[15]
            fee += row[16]
            yield row
        raise BillError("no_summary", "the bill ends without its summary block", reader.line_num)

    def _row(self, v: list[str], line: int) -> BillLine:
        if v[MCHID] != self.mch_id:
            raise BillError("wrong_merchant", f"a row of merchant {v[MCHID][:32]!r}, not {self.mch_id}", line)
        try:
            datetime.fromisoformat(v[TIME])
        except ValueError:
            raise BillError("bad_row", f"交易时间 {v[TIME][:32]!r} is not a time", line) from None
        if len(v[TIME]) != 19 or not v[OUT_TRADE_NO] or len(v[OUT_TRADE_NO]) > 64 or len(v[CURRENCY]) != 3:
            raise BillError("bad_row", "a row without its time, 商户订单号 or currency", line)
        refund = v[TRADE_STATE] == "REFUND"
        if refund and (not v[OUT_REFUND_NO] or v[OUT_REFUND_NO] == "0" or len(v[OUT_REFUND_NO]) > 64):
            raise BillError("bad_row", "a refund row without its 商户退款单号", line)
        amounts = _SEP.join((v[SETTLE], v[COUPON], v[REFUND], v[COUPON_REFUND], v[ORDER], v[ASKED], v[FEE]))
        if _AMOUNTS.fullmatch(amounts):  # the common shape, checked in one pass; each is then exact digits
            settle, coupon, back, coupon_back, order, asked, fee = (int(x.replace(".", "")) for x in
                                                                    amounts.split(_SEP))
        else:  # the precise check, value by value, to say which is wrong
            settle, coupon, back = fen(v[SETTLE], line, "应结订单金额"), fen(v[COUPON], line, "代金券金额"), \
                fen(v[REFUND], line, "退款金额")
            coupon_back, order = fen(v[COUPON_REFUND], line, "充值券退款金额"), fen(v[ORDER], line, "订单金额")
            asked, fee = fen(v[ASKED], line, "申请退款金额"), fee_milli(v[FEE], line)
        return BillLine(  # positional: the fields in their declared order
            line, "R" if refund else "P", v[TIME], v[OUT_TRADE_NO], v[TRANSACTION_ID][:64],
            v[OUT_REFUND_NO] if refund else "", v[REFUND_ID][:64] if refund else "", v[TRADE_STATE][:16],
            v[REFUND_STATUS][:16] if refund else "", v[CURRENCY], settle, coupon, back, coupon_back, order, asked,
            fee, v[PRODUCT][:MAX_TEXT])

    def _summary(self, fields: list[str] | None, line: int) -> None:
        if fields is None or len(fields) != len(SUMMARY) or not all(f.startswith("`") for f in fields):
            raise BillError("no_summary", "the summary header is not followed by its 7 values", line)
        v = [f[1:] for f in fields]
        if not (v[0].isascii() and v[0].isdigit()):
            raise BillError("bad_amount", f"总交易单数 {v[0][:20]!r} is not a count", line)
        self.summary = Summary(count=int(v[0]), settle_fen=fen(v[1], line, SUMMARY[1]),
                               refund_fen=fen(v[2], line, SUMMARY[2]), coupon_refund_fen=fen(v[3], line, SUMMARY[3]),
                               fee_milli=fee_milli(v[4], line), order_fen=fen(v[5], line, SUMMARY[5]),
                               asked_fen=fen(v[6], line, SUMMARY[6]))

    def _rest(self, reader: Iterator[list[str]]) -> None:
        for fields in reader:
            if any(f.strip() for f in fields):
                raise BillError("bad_row", "rows after the summary block", self._reader.line_num)

    def _check(self) -> None:
        assert self.summary is not None
        names = {"count": SUMMARY[0], "settle_fen": SUMMARY[1], "refund_fen": SUMMARY[2],
                 "coupon_refund_fen": SUMMARY[3], "fee_milli": SUMMARY[4], "order_fen": SUMMARY[5],
                 "asked_fen": SUMMARY[6]}
        for attr, label in names.items():
            said, found = getattr(self.summary, attr), getattr(self.totals, attr)
            if said != found:
                raise BillError("summary_mismatch",
                                f"the summary's {label} is {said} but the rows add up to {found} ({attr})")
