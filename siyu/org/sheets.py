"""The organisation sheet: regions, stores and staff from an Excel workbook (.xlsx) or a CSV file.

One table with a `type` column (region / store / staff, or 区域 / 门店 / 员工), or a workbook whose worksheets are
named by type (then the column may be left out). Headers are read in English or Chinese (ALIASES). What real sheets
do to data is undone or reported, never guessed at:
- CSV in GBK/GB18030 (what Excel on a Chinese Windows saves) as well as UTF-8 with or without a BOM;
- numbers where text was meant (a store code 1001 read as 1001.0, a mobile as 13800138000.0) are turned back into
  their digits; a number Excel has already shortened into scientific notation (1.38E+10) is an error on the row;
- dates as Excel serial numbers (45292 = 2024-01-01), as dates, or as text;
- a formula without a saved value (a workbook written by a program, never opened in Excel) is an error on the row,
  a formula with one is read as its value.

`preview_sheet` stores the upload and its per-row report; `apply_sheet` writes the valid rows (regions, then stores,
then staff) in one transaction with set-based statements, matching by code and WeCom userid, so applying the same
sheet again changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.core import audit
from siyu.core.audit import Actor, user_of
from siyu.core.errors import DomainError, NotFound, ValidationFailed
from siyu.core.timeutil import now
from siyu.org import editing
from siyu.org.models import OpeningState, OrgSheet, Region, Role, Staff, Store
from siyu.org.scope import Scope

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01 with Excel's 1900 leap-year bug folded in
KINDS = ("region", "store", "staff")

ALIASES: dict[str, tuple[str, ...]] = {
    "type": ("type", "kind", "类型", "类别"),
    "code": ("code", "编码", "代码", "编号"),
    "name": ("name", "名称", "姓名", "名字"),
    "region_code": ("region_code", "region", "所属区域", "区域编码", "区域"),
    "city": ("city", "城市"),
    "address": ("address", "地址"),
    "opening_state": ("opening_state", "state", "status", "营业状态", "状态"),
    "opened_on": ("opened_on", "opening_date", "开业日期"),
    "userid": ("userid", "wecom_userid", "企业微信账号", "企业微信userid", "账号"),
    "mobile": ("mobile", "phone", "手机", "手机号"),
    "role": ("role", "角色", "岗位"),
    "store_code": ("store_code", "store", "所属门店", "门店编码", "门店"),
}
KIND_ALIASES = {
    "region": "region", "区域": "region", "大区": "region", "regions": "region",
    "store": "store", "门店": "store", "stores": "store",
    "staff": "staff", "员工": "staff", "导购": "staff",
}
ROLE_ALIASES = {
    **{role: role for role in Role.values},
    "总部管理员": Role.HQ_ADMIN, "总部": Role.HQ_ADMIN, "区域经理": Role.REGION_MANAGER, "店长": Role.STORE_MANAGER,
    "导购": Role.STORE_STAFF, "店员": Role.STORE_STAFF,
}
STATE_ALIASES = {
    **{state: state for state in OpeningState.values},
    "筹备中": OpeningState.PREPARING, "营业中": OpeningState.OPEN, "营业": OpeningState.OPEN,
    "暂停营业": OpeningState.SUSPENDED, "停业": OpeningState.SUSPENDED, "已闭店": OpeningState.CLOSED,
    "闭店": OpeningState.CLOSED,
}
REQUIRED = {"region": ("code", "name"), "store": ("code", "name", "region_code"), "staff": ("userid", "name")}
SERIAL = re.compile(r"^\d{1,7}(\.\d+)?$")  # an Excel serial day number (a time of day after the point)
MAX_SERIAL = 2958465  # 9999-12-31
SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")


class Formula:
    """A formula cell without a saved value."""

    def __init__(self, text: str) -> None:
        self.text = text


@dataclass
class Row:
    sheet: str
    number: int  # as the operator sees it in Excel (header = 1)
    kind: str = ""
    values: dict[str, str] = field(default_factory=dict)
    opened_on: date | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    action: str = ""  # create | update | unchanged | skip

    def error(self, column: str, message: str) -> None:
        self.errors.append({"field": column, "message": message})

    @property
    def key(self) -> str:
        return self.values.get("userid" if self.kind == "staff" else "code", "")


# ---------------------------------------------------------------------------------------------------------------
# Reading


def _header(raw: list[Any]) -> tuple[list[str | None], list[str]]:
    """Canonical names for the header cells; unknown headers are returned to be reported."""
    lookup = {alias.casefold(): name for name, aliases in ALIASES.items() for alias in aliases}
    names: list[str | None] = []
    unknown: list[str] = []
    for cell in raw:
        text = "" if cell is None else str(cell).strip().lstrip("\ufeff")
        name = lookup.get(text.casefold()) if text else None
        if text and name is None:
            unknown.append(text)
        names.append(name)
    return names, unknown


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(_("the file is neither UTF-8 nor GBK text"), field="file", code="bad_encoding")


def _csv_tables(content: bytes) -> Iterator[tuple[str, list[list[Any]]]]:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" (UTF-16, tab-separated)
        try:
            text = content.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(_("the file is not valid UTF-16 text"), field="file", code="bad_encoding") from exc
    else:
        text = _decode(content)
    if "\x00" in text:  # a binary file; no database column may hold a NUL either
        raise ValidationFailed(_("the file is not a CSV text file (it holds NUL bytes); save it as CSV UTF-8 or .xlsx"),
                               field="file", code="bad_encoding")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    yield "", [row for row in csv.reader(io.StringIO(text), dialect)]


def _xlsx_tables(content: bytes) -> Iterator[tuple[str, list[list[Any]]]]:
    from openpyxl import load_workbook

    try:
        values = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        formulas = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValidationFailed(_("the workbook could not be read; save it again as .xlsx"), field="file",
                               code="bad_file") from exc
    for sheet in values.worksheets:
        formula_rows = formulas[sheet.title].iter_rows(values_only=True)
        rows: list[list[Any]] = []
        for cached, written in zip(sheet.iter_rows(values_only=True), formula_rows, strict=False):
            rows.append([
                Formula(w) if v is None and isinstance(w, str) and w.startswith("=") else v
                for v, w in zip(cached, written, strict=False)
            ])
            if len(rows) > MAX_ROWS + 1:
                break
        yield sheet.title, rows


def read_rows(content: bytes, filename: str) -> list[Row]:
    """Every data row with its canonical columns, or ValidationFailed(field="columns"/"file") for a sheet that
    cannot be read as an organisation sheet at all."""
    if not content:
        raise ValidationFailed(_("the file is empty"), field="file", code="empty")
    if len(content) > MAX_BYTES:
        raise ValidationFailed(
            _("the file is larger than %(value)s MB") % {"value": MAX_BYTES // 1024 // 1024},
            field="file",
            code="file_too_large",
        )
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise ValidationFailed(_("old .xls workbooks are not read; save it as .xlsx or CSV"), field="file",
                               code="bad_file")
    tables = _xlsx_tables(content) if content.startswith(b"PK\x03\x04") else _csv_tables(content)
    rows: list[Row] = []
    for title, table in tables:
        rows.extend(_table_rows(title, table))
        if len(rows) > MAX_ROWS:
            raise ValidationFailed(
                _("the sheet has more than %(MAX_ROWS)s rows") % {"MAX_ROWS": format(MAX_ROWS, ',')},
                field="file", code="too_many_rows",
            )
    if not rows:
        raise ValidationFailed(_("the sheet has no rows under its header"), field="file", code="empty")
    return rows


def _table_rows(title: str, table: list[list[Any]]) -> list[Row]:
    nonblank = [(n, r) for n, r in enumerate(table, start=1) if any(_blank(c) is False for c in r)]
    if not nonblank:
        return []
    _ignored, header = nonblank[0]
    names, unknown = _header(header)
    sheet_kind = KIND_ALIASES.get(title.strip().casefold(), "")
    if unknown:
        raise ValidationFailed(
            _("unknown columns %(unknown)s in %(sheet)s; the columns are %(known)s")
            % {"unknown": ", ".join(unknown), "sheet": title or _("the sheet"), "known": ", ".join(ALIASES)},
            field="columns", code="wrong_columns")
    if "type" not in names and not sheet_kind:
        raise ValidationFailed(_("the sheet needs a type column (region / store / staff)"), field="columns",
                               code="wrong_columns")
    if "name" not in names or ("code" not in names and "userid" not in names):
        raise ValidationFailed(_("the sheet needs at least name and code (or userid) columns"), field="columns",
                               code="wrong_columns")
    rows = []
    for number, raw in nonblank[1:]:
        row = Row(sheet=title, number=number)
        cells = dict(zip(names, raw, strict=False))
        _read_cells(row, cells, sheet_kind)
        rows.append(row)
    return rows


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _read_cells(row: Row, cells: dict[str | None, Any], sheet_kind: str) -> None:
    for name, cell in cells.items():
        if name is None:
            continue
        if isinstance(cell, Formula):
            row.error(name, f"a formula without a saved value ({cell.text[:40]}); paste it as values")
            continue
        if name == "opened_on":
            row.opened_on = _date(row, cell)
            continue
        row.values[name] = _text(row, name, cell)
    raw_kind = row.values.pop("type", "") or sheet_kind
    row.kind = KIND_ALIASES.get(raw_kind.casefold(), "")
    if not row.kind:
        row.error("type", f"type is region, store or staff, not {raw_kind or 'empty'}")


def _text(row: Row, name: str, cell: Any) -> str:
    """A cell as the text the operator meant: 1001.0 is '1001', 13800138000 is '13800138000'."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return str(cell)
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else str(cell)
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    text = str(cell).strip()
    if SCIENTIFIC.match(text) and name in ("code", "userid", "mobile", "region_code", "store_code"):
        row.error(name, f"{text} is a number Excel shortened; format the column as text and type it again")
        return ""
    return text


def _date(row: Row, cell: Any) -> date | None:
    if _blank(cell):
        return None
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        text = str(cell)
    else:
        text = str(cell).strip()
    if SERIAL.match(text):
        serial = float(text)
        if not 1 <= serial <= MAX_SERIAL:
            row.error("opened_on", f"{text} is not a date")
            return None
        return EXCEL_EPOCH + timedelta(days=int(serial))
    match = re.match(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$", text)
    if match is None:
        row.error("opened_on", f"{text} is not a date (write 2024-01-31)")
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        row.error("opened_on", f"{text} is not a date")
        return None


# ---------------------------------------------------------------------------------------------------------------
# Validation against the enterprise


@dataclass
class Known:
    regions: dict[str, Region]
    stores: dict[str, Store]
    staff: dict[str, Staff]
    sheet_regions: set[str] = field(default_factory=set)
    sheet_stores: dict[str, str] = field(default_factory=dict)  # store code -> region code


def _known(enterprise_id: int) -> Known:
    return Known(
        regions={r.code: r for r in Region.objects.filter(enterprise_id=enterprise_id)},
        stores={s.code: s for s in Store.objects.filter(enterprise_id=enterprise_id).select_related("region")},
        staff={s.wecom_userid: s for s in Staff.objects.filter(enterprise_id=enterprise_id).exclude(wecom_userid="")},
    )


def _field_check(row: Row, check: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return check(*args, **kwargs)
    except DomainError as exc:
        row.error(exc.field or "", exc.message)
        return None


def _check_region(row: Row, known: Known) -> None:
    code = _field_check(row, editing.clean_code, row.values.get("code", ""))
    _field_check(row, editing.clean_text, row.values.get("name", ""), field="name", label="name", max_length=120)
    if code in known.sheet_regions:
        row.error("code", f"region {code} is listed twice")
    if row.errors:
        return
    known.sheet_regions.add(code)
    found = known.regions.get(code)
    row.action = "create" if found is None else ("unchanged" if found.name == row.values["name"] else "update")


def _store_state(row: Row) -> str:
    raw = row.values.get("opening_state", "")
    if not raw:
        return OpeningState.OPEN
    state = STATE_ALIASES.get(raw.casefold()) or STATE_ALIASES.get(raw)
    if state is None:
        row.error("opening_state", f"opening state {raw} is one of {', '.join(OpeningState.values)}")
        return OpeningState.OPEN
    return state


def _check_store(row: Row, known: Known) -> None:
    code = _field_check(row, editing.clean_code, row.values.get("code", ""))
    for name, size in (("name", 120), ("city", 64), ("address", 255)):
        _field_check(row, editing.clean_text, row.values.get(name, ""), field=name, label=name, max_length=size,
                     required=name == "name")
    region_code = row.values.get("region_code", "")
    if region_code not in known.regions and region_code not in known.sheet_regions:
        row.error("region_code", f"no region {region_code or '(empty)'} here or in the sheet")
    row.values["opening_state"] = _store_state(row)
    if code in known.sheet_stores:
        row.error("code", f"store {code} is listed twice")
    if row.errors:
        return
    known.sheet_stores[code] = region_code
    found = known.stores.get(code)
    if found is None:
        row.action = "create"
        return
    same = (found.name, found.city, found.address, found.opening_state, found.region.code, found.opened_on) == (
        row.values["name"], row.values.get("city", ""), row.values.get("address", ""), row.values["opening_state"],
        region_code, row.opened_on if row.opened_on is not None else found.opened_on)
    row.action = "unchanged" if same else "update"


def _staff_role(row: Row) -> str:
    raw = row.values.get("role", "")
    if not raw:
        return Role.STORE_STAFF
    role = ROLE_ALIASES.get(raw) or ROLE_ALIASES.get(raw.casefold())
    if role is None:
        row.error("role", f"role {raw} is one of {', '.join(Role.values)}")
        return Role.STORE_STAFF
    return role


def _check_staff(row: Row, known: Known, seen: set[str]) -> None:
    userid = _field_check(row, editing.clean_userid, row.values.get("userid", ""), required=True)
    _field_check(row, editing.clean_text, row.values.get("name", ""), field="name", label="name", max_length=64)
    mobile = _field_check(row, editing.clean_mobile, row.values.get("mobile", ""))
    row.values["mobile"] = mobile or ""
    role = row.values["role"] = _staff_role(row)
    store_code = row.values.get("store_code", "")
    region_code = row.values.get("region_code", "")
    if role in editing.STORE_ROLES and store_code not in known.stores and store_code not in known.sheet_stores:
        row.error("store_code", f"no store {store_code or '(empty)'} here or in the sheet")
    if role == Role.REGION_MANAGER and region_code not in known.regions and region_code not in known.sheet_regions:
        row.error("region_code", f"no region {region_code or '(empty)'} here or in the sheet")
    if userid in seen:
        row.error("userid", f"staff {userid} is listed twice")
    if row.errors:
        return
    seen.add(userid)
    found = known.staff.get(userid)
    if found is None:
        row.action = "create"
        return
    store = known.stores.get(store_code)
    same = (found.name, found.mobile, found.role) == (row.values["name"], row.values["mobile"], role) and (
        role not in editing.STORE_ROLES or (store is not None and found.store_id == store.pk))
    row.action = "unchanged" if same else "update"


def validate(rows: list[Row], enterprise_id: int) -> list[Row]:
    """Check every row; regions first, so a store may name a region further down the sheet."""
    known = _known(enterprise_id)
    seen_staff: set[str] = set()
    for kind in KINDS:
        for row in rows:
            if row.kind != kind or row.errors:
                continue
            if kind == "region":
                _check_region(row, known)
            elif kind == "store":
                _check_store(row, known)
            else:
                _check_staff(row, known, seen_staff)
    for row in rows:
        if row.errors:
            row.action = "skip"
    return rows


def report_of(rows: list[Row]) -> dict[str, Any]:
    counts = {action: sum(1 for r in rows if r.action == action) for action in ("create", "update", "unchanged")}
    return {
        "rows": len(rows),
        "errors": sum(1 for r in rows if r.errors),
        **counts,
        "items": [
            {"sheet": r.sheet, "row": r.number, "type": r.kind, "key": r.key, "name": r.values.get("name", ""),
             "action": r.action, "errors": r.errors}
            for r in rows
        ],
    }


# ---------------------------------------------------------------------------------------------------------------
# Preview and apply


def preview_sheet(*, scope: Scope, filename: str, content: bytes, actor: Actor = None) -> OrgSheet:
    """Read and check a sheet without changing the organisation; the upload is kept with its report."""
    editing.require_hq(scope, "the organisation")
    rows = validate(read_rows(content, filename), scope.enterprise_id)
    return OrgSheet.objects.create(
        enterprise_id=scope.enterprise_id, filename=filename.replace("\x00", "")[:255],
        sha256=hashlib.sha256(content).hexdigest(), content=content, report=report_of(rows), uploaded_by=user_of(actor),
    )


def get_sheet(scope: Scope, sheet_id: int) -> OrgSheet:
    editing.require_hq(scope, "the organisation")
    found = OrgSheet.objects.filter(enterprise_id=scope.enterprise_id, pk=sheet_id).first()
    if found is None:
        raise NotFound(_("sheet %(sheet_id)s not found") % {"sheet_id": sheet_id}, field="sheet_id")
    return found


@transaction.atomic
def apply_sheet(*, scope: Scope, sheet_id: int, actor: Actor = None) -> dict[str, Any]:
    """Write the sheet's valid rows. The rows are checked again against the organisation as it is now (another
    operator may have changed it since the preview); the report stored is the one applied."""
    editing.require_hq(scope, "the organisation")
    sheet = OrgSheet.objects.select_for_update().filter(enterprise_id=scope.enterprise_id, pk=sheet_id).first()
    if sheet is None:
        raise NotFound(_("sheet %(sheet_id)s not found") % {"sheet_id": sheet_id}, field="sheet_id")
    rows = validate(read_rows(bytes(sheet.content), sheet.filename), scope.enterprise_id)
    _apply_regions(scope.enterprise_id, [r for r in rows if r.kind == "region" and r.action in ("create", "update")])
    _apply_stores(scope.enterprise_id, [r for r in rows if r.kind == "store" and r.action in ("create", "update")])
    _apply_staff(scope.enterprise_id, [r for r in rows if r.kind == "staff" and r.action in ("create", "update")])
    report = report_of(rows)
    sheet.report = report
    sheet.applied = {key: report[key] for key in ("rows", "errors", "create", "update", "unchanged")}
    sheet.applied_at = now()
    sheet.save(update_fields=["report", "applied", "applied_at"])
    changed = [f"{r.kind} {r.key}: {r.action}" for r in rows if r.action in ("create", "update")]
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="org.import", target_type="org_sheet",
                 target_id=sheet.pk,
                 summary=audit.text(
                     N_("%(file)s: %(created)s created, %(updated)s updated, %(errors)s rows with errors"),
                     file=sheet.filename, created=report["create"], updated=report["update"],
                     errors=report["errors"]),
                 changes={"rows": changed[:200]})
    return dict(sheet.applied)


def _apply_regions(enterprise_id: int, rows: list[Row]) -> None:
    existing = {r.code: r for r in Region.objects.filter(enterprise_id=enterprise_id,
                                                         code__in=[row.key for row in rows])}
    new, changed = [], []
    for row in rows:
        region = existing.get(row.key)
        if region is None:
            new.append(Region(enterprise_id=enterprise_id, code=row.key, name=row.values["name"]))
        else:
            region.name = row.values["name"]
            changed.append(region)
    Region.objects.bulk_create(new)
    Region.objects.bulk_update(changed, ["name"])


def _apply_stores(enterprise_id: int, rows: list[Row]) -> None:
    regions = dict(Region.objects.filter(enterprise_id=enterprise_id).values_list("code", "id"))
    existing = {s.code: s for s in Store.objects.filter(enterprise_id=enterprise_id,
                                                        code__in=[row.key for row in rows])}
    new, changed = [], []
    for row in rows:
        values = {
            "name": row.values["name"], "city": row.values.get("city", ""),
            "address": row.values.get("address", ""), "opening_state": row.values["opening_state"],
            "is_active": row.values["opening_state"] != OpeningState.CLOSED,
            "region_id": regions[row.values["region_code"]],
        }
        store = existing.get(row.key)
        if store is None:
            new.append(Store(enterprise_id=enterprise_id, code=row.key, opened_on=row.opened_on, **values))
            continue
        for key, value in values.items():
            setattr(store, key, value)
        if row.opened_on is not None:
            store.opened_on = row.opened_on
        changed.append(store)
    Store.objects.bulk_create(new)
    Store.objects.bulk_update(changed, ["name", "city", "address", "opening_state", "is_active", "region_id",
                                        "opened_on"])
    if changed:
        for store in changed:  # staff follow a store that moved region (one statement per moved store)
            Staff.objects.filter(store_id=store.pk).exclude(region_id=store.region_id).update(
                region_id=store.region_id)


def _apply_staff(enterprise_id: int, rows: list[Row]) -> None:
    stores = {code: (pk, region) for code, pk, region in
              Store.objects.filter(enterprise_id=enterprise_id).values_list("code", "id", "region_id")}
    regions = dict(Region.objects.filter(enterprise_id=enterprise_id).values_list("code", "id"))
    existing = {s.wecom_userid: s for s in Staff.objects.filter(enterprise_id=enterprise_id,
                                                                wecom_userid__in=[row.key for row in rows])}
    new, changed = [], []
    for row in rows:
        role = row.values["role"]
        store_id, region_id = None, None
        if role in editing.STORE_ROLES:
            store_id, region_id = stores[row.values["store_code"]]
        elif role == Role.REGION_MANAGER:
            region_id = regions[row.values["region_code"]]
        values = {"name": row.values["name"], "mobile": row.values["mobile"], "role": role, "store_id": store_id,
                  "region_id": region_id}
        staff = existing.get(row.key)
        if staff is None:
            new.append(Staff(enterprise_id=enterprise_id, wecom_userid=row.key, **values))
            continue
        for key, value in values.items():
            setattr(staff, key, value)
        changed.append(staff)
    Staff.objects.bulk_create(new)
    Staff.objects.bulk_update(changed, ["name", "mobile", "role", "store_id", "region_id"])

