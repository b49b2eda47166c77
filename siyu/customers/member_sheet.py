"""Reading and checking a member sheet: streaming readers for CSV (UTF-8 with or without BOM, GBK) and Excel (openpyxl
read-only), the column mapping and its suggestion from Chinese or English headers, and one row's parsing into a
`Member` or a list of `Problem`s.

Nothing here touches the database: the import (`member_import.py`) feeds it the enterprise's store codes and decides
what to write. Every cell is checked the way a spreadsheet mangles it:
- phones Excel turned into numbers: 13800138000.0, 8613800138000 (+86 lost its plus), 013800138000 (a trunk 0), and
  1.38001E+10 (digits lost: refused, the number cannot be recovered);
- dates as Excel serial numbers (45292 = 2024-01-01, 1900 date system), as date cells, or as text;
- formulas (a cell the sheet computes) are refused, not evaluated: the value the operator saw is not in the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

from siyu.core.errors import ValidationFailed
from siyu.core.money import parse_yuan
from siyu.core.timeutil import SHANGHAI

# field -> header names an export may use (compared lower-cased, without spaces, underscores or dashes)
ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("手机号", "手机号码", "手机", "会员手机号", "联系电话", "电话", "mobile", "phone",
              "phonenumber", "cellphone"),
    "name": ("姓名", "会员姓名", "会员名称", "名字", "昵称", "name", "membername", "fullname"),
    "gender": ("性别", "gender", "sex"),
    "birthday": ("生日", "出生日期", "会员生日", "birthday", "birthdate", "dateofbirth", "dob"),
    "store_code": ("门店编码", "门店代码", "所属门店编码", "所属门店", "开卡门店", "门店", "storecode", "store"),
    "points": ("积分余额", "积分", "当前积分", "可用积分", "points", "pointsbalance", "balance"),
    "tier": ("会员等级", "等级", "会员级别", "tier", "level", "memberlevel"),
    "tags": ("标签", "会员标签", "tags", "tag"),
    "unionid": ("unionid", "微信unionid"),
    "openid": ("openid", "公众号openid", "oaopenid"),
    "mp_openid": ("小程序openid", "mpopenid", "miniprogramopenid"),
    "card_no": ("会员卡号", "卡号", "会员编号", "cardno", "membercard", "cardnumber", "memberno"),
    "first_purchase": ("首次消费日期", "首次消费时间", "首购日期", "首次购买日期", "firstpurchase",
                       "firstpurchasedate"),
    "last_purchase": ("最近消费日期", "最近消费时间", "最后消费日期", "末次消费日期", "最近购买日期", "lastpurchase",
                      "lastpurchasedate"),
    "lifetime_spend": ("累计消费金额", "累计消费", "消费总额", "累计消费(元)", "lifetimespend", "totalspend"),
}
FIELDS: tuple[str, ...] = tuple(ALIASES)
IDENTITY_FIELDS = ("phone", "unionid", "openid", "mp_openid", "card_no")
MAX_TAGS = 20
_TAG_SPLIT = re.compile(r"[,，;；|、/]")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S",
                 "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_PHONE_NOISE = re.compile(r"[\s\-()（）]")
_SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE]\+?\d+")
_SERIAL_TEXT = re.compile(r"\d{1,5}(\.\d+)?")
_IDENTITY = re.compile(r"[A-Za-z0-9_\-]+")
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01 (Excel's 1900 leap-year bug is before any member)
_GENDERS = {"男": "male", "m": "male", "male": "male", "1": "male", "先生": "male",
            "女": "female", "f": "female", "female": "female", "2": "female", "女士": "female",
            "": "unknown", "未知": "unknown", "0": "unknown", "unknown": "unknown", "保密": "unknown"}


class SheetError(ValueError):
    """The file as a whole cannot be read (format, encoding, no header)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    message: str
    value: str = ""


@dataclass
class Member:
    row_number: int
    phone: str = ""
    name: str = ""
    gender: str = ""
    birthday: date | None = None
    store_code: str = ""
    store_id: int | None = None
    points: int | None = None
    tier: str = ""
    tags: list[str] = field(default_factory=list)
    unionid: str = ""
    openid: str = ""
    mp_openid: str = ""
    card_no: str = ""
    first_purchase: date | None = None
    last_purchase: date | None = None
    lifetime_spend_fen: int | None = None
    _identities: list[tuple[str, str]] | None = field(default=None, repr=False, compare=False)

    def identities(self) -> list[tuple[str, str]]:
        """(identity kind, value) pairs, the strongest first (worked out once: the import asks several times)."""
        if self._identities is None:
            pairs = (("unionid", self.unionid), ("phone", self.phone), ("mp_openid", self.mp_openid),
                     ("oa_openid", self.openid), ("member_card", self.card_no))
            self._identities = [(kind, value) for kind, value in pairs if value]
        return self._identities

    def digest_source(self) -> str:
        return "\x1f".join(str(v) for v in (
            self.phone, self.name, self.gender, self.birthday, self.store_code, self.points, self.tier,
            ",".join(self.tags), self.unionid, self.openid, self.mp_openid, self.card_no, self.first_purchase,
            self.last_purchase, self.lifetime_spend_fen))


# ---------------------------------------------------------------------------------------------------------------
# Files


def sniff_format(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(4)
    if head == b"PK\x03\x04":
        if not zipfile.is_zipfile(path):
            raise SheetError("the file is a damaged Excel workbook", "bad_file")
        return "xlsx"
    if head[:4] == b"\xd0\xcf\x11\xe0":
        raise SheetError("old .xls workbooks are not read: save the sheet as .xlsx or CSV", "xls_not_supported")
    return "csv"


def detect_encoding(path: Path) -> str:
    """utf-8-sig (a BOM or none) when the whole file decodes as UTF-8, else gb18030 (GBK's superset, what Excel on a
    Chinese Windows saves as "CSV"). Streamed: decodes the file in 1 MB pieces without holding it."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while piece := fh.read(1 << 20):
                    decoder.decode(piece)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise SheetError("the file is neither UTF-8 nor GBK text, nor an Excel workbook", "bad_encoding")


@dataclass(frozen=True)
class Formula:
    """A cell whose value the sheet computes: refused."""

    text: str


def iter_rows(path: Path, file_format: str, encoding: str = "") -> Iterator[list[Any]]:
    """The sheet's rows, the header first, as lists of cell values, streamed (bounded memory whatever the size)."""
    if file_format == "xlsx":
        yield from _xlsx_rows(path)
        return
    with path.open(encoding=encoding or "utf-8-sig", newline="") as fh:
        for row in csv.reader(fh):
            yield list(row)


def _xlsx_rows(path: Path) -> Iterator[list[Any]]:
    import openpyxl

    handle = path.open("rb")  # a file object: openpyxl judges a path by its extension, an upload has none
    try:
        book = openpyxl.load_workbook(handle, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook  # noqa: BLE001
        handle.close()
        raise SheetError("the workbook cannot be opened", "bad_file") from exc
    try:
        sheet = book.worksheets[0]
        for cells in sheet.iter_rows():
            out: list[Any] = []
            for cell in cells:
                value = getattr(cell, "value", None)
                if getattr(cell, "data_type", "") == "f" or (isinstance(value, str) and value.startswith("=")):
                    out.append(Formula(str(value)))
                else:
                    out.append(value)
            yield out
    finally:
        book.close()
        handle.close()


def inspect_file(path: Path) -> tuple[str, str, list[str]]:
    """An uploaded sheet's format, encoding (CSV) and header row; a file that is none of them is refused."""
    try:
        file_format = sniff_format(path)
        encoding = detect_encoding(path) if file_format == "csv" else ""
        return file_format, encoding, header_of(path, file_format, encoding)
    except SheetError as exc:
        raise ValidationFailed(str(exc), field="file", code=exc.code) from exc


def data_rows(path: Path, file_format: str, encoding: str) -> Iterator[tuple[int, list[Any]]]:
    """The rows below the header with their sheet row numbers (the header is row 1), blank rows left out."""
    rows = iter_rows(path, file_format, encoding)
    next(rows, None)  # the header
    for number, cells in enumerate(rows, start=2):
        if not blank(cells):
            yield number, cells


@dataclass
class PreviewRow:
    """A row as the mapping reads it (each mapped column's cell as shown) and its problems."""

    row_number: int
    values: dict[str, str]
    problems: list[Problem]


def header_of(path: Path, file_format: str, encoding: str) -> list[str]:
    for row in iter_rows(path, file_format, encoding):
        header = [("" if v is None else str(v)).strip().lstrip("\ufeff") for v in row]
        while header and not header[-1]:
            header.pop()
        if not any(header):
            break
        return header
    raise SheetError("the file has no header row", "empty_file")


# ---------------------------------------------------------------------------------------------------------------
# Mapping


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-（）()]", "", text).lower()


def suggest_mapping(header: Sequence[str], aliases: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """field -> header, from the names exports use (exact names first, so 门店编码 wins over 门店). `aliases` is
    another sheet's names (the order history's); the member sheet's by default."""
    normal = {_norm(h): h for h in header if h}
    used: set[str] = set()
    out: dict[str, str] = {}
    for key, names in (ALIASES if aliases is None else aliases).items():
        for name in names:
            column = normal.get(_norm(name))
            if column is not None and column not in used:
                out[key] = column
                used.add(column)
                break
    return out


def check_mapping(mapping: Mapping[str, str], header: Sequence[str]) -> dict[str, str]:
    """A field-level reason for each problem with a mapping (empty when it is usable)."""
    problems: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key, column in mapping.items():
        if key not in ALIASES:
            problems[key] = f"unknown field {key!r}"
        elif column not in header:
            problems[key] = f"the file has no column {column!r}"
        elif column in seen:
            problems[key] = f"column {column!r} is already mapped to {seen[column]}"
        else:
            seen[column] = key
    if not any(k in mapping for k in IDENTITY_FIELDS):
        problems.setdefault("phone", "map at least one of phone, unionid, openid, mini-program openid, card number")
    return problems


def positions(mapping: Mapping[str, str], header: Sequence[str]) -> dict[str, int]:
    return {key: header.index(column) for key, column in mapping.items() if column in header}


# ---------------------------------------------------------------------------------------------------------------
# Cells


class CellError(ValueError):
    """A cell the import cannot take: a stable code and a translated message (rendered when read, see str())."""

    def __init__(self, code: str, message: str | StrPromise) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


def text(value: Any) -> str:
    """A cell as text; exports quote long numbers as ="..." or '... so spreadsheets keep them: unwrap those."""
    if type(value) is str:  # a CSV cell, the common case: no wrapper to unwrap
        out = value.strip()
        if not out or out[0] not in "='":
            return out
    if value is None:
        return ""
    if isinstance(value, Formula):
        raise CellError("formula", _("the cell is a formula; paste it as values"))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    out = str(value).strip()
    if out.startswith('="') and out.endswith('"'):
        return out[2:-1].strip()
    if out.startswith("="):
        raise CellError("formula", _("the cell is a formula; paste it as values"))
    return out.lstrip("'").strip()


def phone(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        raise CellError("invalid_phone", _("not a phone number"))
    raw = text(value)
    if not raw:
        return ""
    if _MOBILE.match(raw):  # already clean, the common case
        return raw
    compact = _PHONE_NOISE.sub("", raw)
    if _SCIENTIFIC.fullmatch(compact):
        compact = _from_scientific(compact)
    if compact.endswith(".0") and compact[:-2].isdigit():
        compact = compact[:-2]
    for prefix in ("+86", "0086", "86", "0"):
        if compact.startswith(prefix) and _MOBILE.match(compact[len(prefix):]):
            compact = compact[len(prefix):]
            break
    if not _MOBILE.match(compact):
        raise CellError("invalid_phone", _("not a mainland China mobile number (11 digits starting 13-19)"))
    return compact


def _from_scientific(compact: str) -> str:
    mantissa = compact.lower().split("e")[0].replace(".", "")
    if len(mantissa) < 11:
        raise CellError("phone_lost_digits",
                        _("Excel showed this phone in scientific notation and lost its digits; "
                        "format the column as text and export again"))
    try:
        return str(int(Decimal(compact)))
    except InvalidOperation as exc:  # pragma: no cover - the pattern above admits only numbers
        raise CellError("invalid_phone", _("not a phone number")) from exc


def day(value: Any, *, today: date) -> date | None:
    if value is None or value == "":
        return None
    if type(value) is str or not isinstance(value, date | int | float) or isinstance(value, bool):
        raw = text(value)
        if not raw:
            return None
        if _SERIAL_TEXT.fullmatch(raw):
            found = _serial(float(raw))
        else:
            found = _parse_day(raw)
    elif isinstance(value, datetime):
        found = value.astimezone(SHANGHAI).date() if value.tzinfo else value.date()
    elif isinstance(value, date):
        found = value
    else:
        found = _serial(float(value))
    if found > today:
        raise CellError("future_date", _("the date is in the future"))
    if found.year < 1900:
        raise CellError("invalid_date", _("the date is before 1900"))
    return found


def _serial(number: float) -> date:
    if not 1 <= number < 2958466:
        raise CellError("invalid_date", _("not a date"))
    return _EXCEL_EPOCH + timedelta(days=int(number))


_ISO_DAY = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")


def _parse_day(raw: str) -> date:
    match = _ISO_DAY.match(raw)
    if match:  # the common case, without strptime's cost
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError as exc:
            raise CellError("invalid_date", _("not a date (use 2024-01-31)")) from exc
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=UTC).date()
        except ValueError:
            continue
    raise CellError("invalid_date", _("not a date (use 2024-01-31)"))


def gender(value: Any) -> str:
    raw = text(value).lower()
    found = _GENDERS.get(raw)
    if found is None:
        raise CellError("invalid_gender", _("gender is 男/女 (male/female) or empty"))
    return found


def integer(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise CellError("invalid_points", _("points are a whole number"))
        number = int(value)
    else:
        raw = text(value).replace(",", "")
        if not raw:
            return None
        if raw.endswith(".0"):
            raw = raw[:-2]
        if not raw.isdigit():
            raise CellError("invalid_points", _("points are a whole number, not negative"))
        number = int(raw)
    if number < 0:
        raise CellError("invalid_points", _("points are a whole number, not negative"))
    return number


def yuan_to_fen(value: Any) -> int | None:
    """Yuan to fen exactly: a float cell goes through its shortest repr (1234.56 -> "1234.56"), never through
    arithmetic; more than two decimals is refused rather than rounded."""
    if isinstance(value, float):
        raw = repr(value)
        if "e" in raw.lower():
            raw = format(Decimal(raw), "f")
    elif isinstance(value, int) and not isinstance(value, bool):
        raw = str(value)
    else:
        raw = text(value).replace("￥", "").replace("元", "").strip()
    if not raw:
        return None
    try:
        fen = parse_yuan(raw).fen
    except ValueError as exc:
        raise CellError("invalid_amount", _("not an amount in yuan with at most two decimals")) from exc
    if fen < 0:
        raise CellError("invalid_amount", _("the amount is negative"))
    return fen


def tags(value: Any) -> list[str]:
    names = [part.strip() for part in _TAG_SPLIT.split(text(value)) if part.strip()]
    if len(names) > MAX_TAGS:
        raise CellError("too_many_tags", _("at most %(MAX_TAGS)s tags") % {"MAX_TAGS": MAX_TAGS})
    if any(len(name) > 64 for name in names):
        raise CellError("invalid_tag", _("a tag is at most 64 characters"))
    return list(dict.fromkeys(names))


def short_text(limit: int, code: str) -> Any:
    def parse(value: Any) -> str:
        out = text(value)
        if len(out) > limit:
            raise CellError(code, _("at most %(limit)s characters") % {"limit": limit})
        return out

    return parse


def identity_text(value: Any) -> str:
    out = text(value)
    if len(out) > 128 or (out and not _IDENTITY.fullmatch(out)):
        raise CellError("invalid_identity", _("letters, digits, - and _ only, at most 128"))
    return out


# ---------------------------------------------------------------------------------------------------------------
# A row

_PARSERS: dict[str, Any] = {
    "phone": phone, "name": short_text(64, "invalid_name"), "gender": gender,
    "store_code": short_text(64, "unknown_store"),
    "points": integer, "tier": short_text(32, "invalid_tier"), "tags": tags, "unionid": identity_text,
    "openid": identity_text, "mp_openid": identity_text, "card_no": short_text(64, "invalid_card"),
    "lifetime_spend": yuan_to_fen,
}
_DATES = {"birthday": "birthday", "first_purchase": "first_purchase", "last_purchase": "last_purchase"}
_ATTR = {"lifetime_spend": "lifetime_spend_fen"}


def _shown(value: Any) -> str:
    if isinstance(value, Formula):
        return value.text[:128]
    return ("" if value is None else str(value))[:128]


def parse_row(row_number: int, cells: Sequence[Any], where: Mapping[str, int], stores: Mapping[str, int],
              today: date) -> Member | list[Problem]:
    """One sheet row: a Member, or every problem found in it (all columns are checked, not just the first bad one)."""
    member = Member(row_number=row_number)
    problems: list[Problem] = []
    for key, index in where.items():
        value = cells[index] if index < len(cells) else None
        try:
            parsed = day(value, today=today) if key in _DATES else _PARSERS[key](value)
        except CellError as exc:
            problems.append(Problem(key, exc.code, str(exc), _shown(value)))
            continue
        setattr(member, _ATTR.get(key, key), parsed)
    if member.store_code:
        store_id = stores.get(member.store_code)
        if store_id is None:
            problems.append(Problem("store_code", "unknown_store", "no store has this code", member.store_code))
        member.store_id = store_id
    if not problems and not member.identities():
        problems.append(Problem("phone", "no_identity", "the row has no phone, unionid, openid or card number"))
    if (member.first_purchase and member.last_purchase and member.first_purchase > member.last_purchase):
        problems.append(Problem("first_purchase", "invalid_date", "the first purchase is after the last one",
                                str(member.first_purchase)))
    return problems or member


def blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """A small CSV (tests and the sample download)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
