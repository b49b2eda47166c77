"""Member import: sheets made here by hand (CSV in UTF-8/GBK, Excel via openpyxl), expected values worked out beside
each test, not by the code under test."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.utils import translation

from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.customers import member_import
from siyu.customers import member_sheet as sheet
from siyu.customers.models import (
    Customer,
    CustomerTag,
    Event,
    Identity,
    ImportedMemberProfile,
    MemberImport,
    MemberImportError,
)
from siyu.customers.services import IdentityInput, create_customer
from siyu.org.scope import Scope, scope_for_staff
from tests.conftest import Org

HEADER = ["手机号", "姓名", "性别", "生日", "门店编码", "积分", "会员等级", "标签", "unionid", "首次消费日期",
          "最近消费日期", "累计消费金额"]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _csv(rows: list[list[Any]], header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    return sheet.csv_bytes(header, rows).decode("utf-8").encode(encoding)


def _phone(i: int) -> str:
    return f"139{i:08d}"


def _rows(count: int) -> list[list[Any]]:
    return [[_phone(i), f"会员{i}", "女" if i % 2 else "男", "1990-05-01", "bj1", i, "金卡", "老客,高价值", "",
             "2020-01-01", "2024-06-30", "1234.56"] for i in range(count)]


def _import(scope: Scope, content: bytes, name: str = "members.csv", **kw: Any) -> MemberImport:
    imp = member_import.upload_member_file(scope=scope, stream=content, filename=name)
    member_import.start_member_import(scope=scope, import_id=imp.pk, enqueue=False)
    member_import.run_member_import(import_id=imp.pk, **kw)
    imp.refresh_from_db()
    return imp


# ---------------------------------------------------------------------------------------------------------------
# Cells


@pytest.mark.parametrize(("cell", "expected"), [
    (13800138000, "13800138000"),
    (13800138000.0, "13800138000"),          # an Excel number cell
    ("13800138000.0", "13800138000"),
    ("1.3800138000E+10", "13800138000"),     # scientific, but every digit is there
    (8613800138000, "13800138000"),          # +86 lost its plus when Excel made it a number
    ("013800138000", "13800138000"),         # a trunk 0 in front
    ("+86 138-0013-8000", "13800138000"),
    ('="13800138000"', "13800138000"),
    ("", ""),
])
def test_phone_cells(cell: Any, expected: str) -> None:
    assert sheet.phone(cell) == expected


@pytest.mark.parametrize(("cell", "code"), [
    ("1.38001E+10", "phone_lost_digits"),    # what Excel shows (and saves) for 13800138000 in a narrow column
    ("12345", "invalid_phone"),
    ("=A1", "formula"),
    (sheet.Formula("=TEXT(A1)"), "formula"),
])
def test_bad_phone_cells(cell: Any, code: str) -> None:
    with pytest.raises(sheet.CellError) as err:
        sheet.phone(cell)
    assert err.value.code == code


def test_dates_from_excel_serials_text_and_cells() -> None:
    today = date(2026, 12, 6)
    assert sheet.day(45292, today=today) == date(2024, 1, 1)       # Excel: =DATE(2024,1,1) is 45292
    assert sheet.day("45292", today=today) == date(2024, 1, 1)     # the same serial saved into a CSV
    assert sheet.day(36526.75, today=today) == date(2000, 1, 1)    # a serial with a time of day
    assert sheet.day("2024/1/2", today=today) == date(2024, 1, 2)
    assert sheet.day("20240102", today=today) == date(2024, 1, 2)
    assert sheet.day("2024年1月2日", today=today) == date(2024, 1, 2)
    assert sheet.day(datetime(2024, 1, 2, 10, 0), today=today) == date(2024, 1, 2)  # noqa: DTZ001 - Excel cell
    with translation.override("zh-hans"), pytest.raises(sheet.CellError, match="未来") as refused:
        sheet.day("2027-01-01", today=today)
    assert refused.value.code == "future_date"
    with translation.override("en"):
        assert str(refused.value) == "the date is in the future"  # the message is rendered where it is read
    with pytest.raises(sheet.CellError):
        sheet.day("not a date", today=today)


def test_money_yuan_to_fen_exactly() -> None:
    assert sheet.yuan_to_fen(1234.56) == 123456
    assert sheet.yuan_to_fen(0.1) == 10
    assert sheet.yuan_to_fen("1,234.5") == 123450
    assert sheet.yuan_to_fen("￥88") == 8800
    assert sheet.yuan_to_fen(19999999.99) == 1999999999
    for bad in ("12.345", "-5", "abc", 0.30000000000000004):
        with pytest.raises(sheet.CellError):
            sheet.yuan_to_fen(bad)


def test_mapping_suggested_from_chinese_and_english_headers() -> None:
    assert sheet.suggest_mapping(["手机号码", "会员姓名", "所属门店", "积分余额", "UnionID"]) == {
        "phone": "手机号码", "name": "会员姓名", "store_code": "所属门店", "points": "积分余额", "unionid": "UnionID"}
    assert sheet.suggest_mapping(["Phone Number", "Name", "Store Code", "Last Purchase"]) == {
        "phone": "Phone Number", "name": "Name", "store_code": "Store Code", "last_purchase": "Last Purchase"}


# ---------------------------------------------------------------------------------------------------------------
# Bad sheets


def test_wrong_columns_are_refused_with_the_field(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    imp = member_import.upload_member_file(scope=scope, stream=_csv([["x", "y"]], header=["地址", "备注"]))
    assert imp.mapping == {}
    with pytest.raises(ValidationFailed) as err:
        member_import.start_member_import(scope=scope, import_id=imp.pk, enqueue=False)
    assert err.value.field == "mapping.phone"
    with pytest.raises(ValidationFailed) as err:
        member_import.set_mapping(scope=scope, import_id=imp.pk, mapping={"phone": "手机"})
    assert err.value.field == "mapping.phone"
    with pytest.raises(ValidationFailed) as err:
        member_import.set_mapping(scope=scope, import_id=imp.pk, mapping={"phone": "地址", "name": "地址"})
    assert err.value.field == "mapping.name"


def test_unreadable_files_are_refused(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    for content, code in ((b"", "empty_file"), (b"\xd0\xcf\x11\xe0" + b"\0" * 60, "xls_not_supported"),
                          (b"\xff\xfe\x00\xd8\x00\xdc" * 3, "bad_encoding")):
        with pytest.raises(ValidationFailed) as err:
            member_import.upload_member_file(scope=scope, stream=content)
        assert err.value.code == code
    assert not MemberImport.objects.exists()


def test_gbk_csv_imports_chinese_names(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    content = _csv([["13900000001", "张三", "男", "", "bj1", "", "", "", "", "", "", ""]], encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    imp = _import(scope, content)
    assert imp.encoding == "gb18030"
    customer = Customer.objects.get(phone="13900000001")
    assert (customer.name, customer.gender, customer.home_store_id) == ("张三", "male", org.store_n1.pk)


def test_utf8_bom_csv(org: Org) -> None:
    imp = _import(scope_for_staff(org.hq), "\ufeff".encode() + _csv(_rows(3)))
    assert imp.mapping["phone"] == "手机号"
    assert Customer.objects.filter(enterprise=org.enterprise).count() == 3


def _xlsx(rows: list[list[Any]], header: list[str] = HEADER) -> bytes:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(header)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_excel_numbers_serials_and_formulas(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    content = _xlsx([
        [13900000001, "数字手机", "女", 32874, "bj1", 100.0, "", "", "", 45292, date(2024, 6, 1), 88.8],
        [8613900000002, "带86", "", "", "", None, "", "", "", None, None, None],
        ["=TEXT(13900000003,\"0\")", "公式", "", "", "", None, "", "", "", None, None, None],
        ["13900000004", "=A1", "", "", "", None, "", "", "", None, None, None],
        ["1.39E+10", "丢位", "", "", "", None, "", "", "", None, None, None],
    ])
    imp = member_import.upload_member_file(scope=scope, stream=content, filename="m.xlsx")
    assert imp.file_format == "xlsx"
    report = member_import.dry_run(scope=scope, import_id=imp.pk)
    assert (report.total_rows, report.valid_rows, report.error_rows) == (5, 2, 3)
    errors = {(e.row_number, e.field, e.code) for e in MemberImportError.objects.filter(member_import=imp)}
    assert errors == {(4, "phone", "formula"), (5, "name", "formula"), (6, "phone", "phone_lost_digits")}
    assert not Customer.objects.exists()  # a dry run writes nothing
    member_import.start_member_import(scope=scope, import_id=imp.pk, enqueue=False)
    member_import.run_member_import(import_id=imp.pk)
    first = Customer.objects.get(phone="13900000001")
    assert first.birthday == date(1990, 1, 1)  # serial 32874
    profile = ImportedMemberProfile.objects.get(customer=first)
    assert (profile.points_balance, profile.first_purchase_on, profile.last_purchase_on, profile.lifetime_spend_fen) \
        == (100, date(2024, 1, 1), date(2024, 6, 1), 8880)
    assert Customer.objects.filter(phone="13900000002").exists()


# ---------------------------------------------------------------------------------------------------------------
# A thousand members, five bad


BAD = {  # sheet row (header is row 1) -> (field, code)
    12: ("phone", "invalid_phone"),
    102: ("store_code", "unknown_store"),
    302: ("phone", "duplicate_in_file"),
    502: ("name", "formula"),
    902: ("birthday", "future_date"),
}


def _thousand() -> bytes:
    rows = _rows(1000)
    rows[10][0] = "1390000"             # row 12
    rows[100][4] = "nowhere"            # row 102
    rows[300][0] = _phone(0)            # row 302: the phone of row 2
    rows[500][1] = "=HYPERLINK(\"x\")"  # row 502
    rows[900][3] = "2099-01-01"         # row 902
    return _csv(rows)


def test_thousand_members_with_five_bad_rows(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    imp = member_import.upload_member_file(scope=scope, stream=_thousand(), filename="1000.csv")
    report = member_import.dry_run(scope=scope, import_id=imp.pk)
    assert (report.total_rows, report.valid_rows, report.error_rows) == (1000, 995, 5)
    found = {e.row_number: (e.field, e.code) for e in member_import.error_report(scope=scope, import_id=imp.pk)}
    assert found == BAD
    member_import.start_member_import(scope=scope, import_id=imp.pk, enqueue=False)
    assert member_import.run_member_import(import_id=imp.pk) == "done"
    imp.refresh_from_db()
    assert (imp.status, imp.processed_rows, imp.created_customers, imp.merged_customers, imp.errors) == \
        ("done", 1000, 995, 0, 5)
    customers = Customer.objects.filter(enterprise=org.enterprise)
    assert customers.count() == 995
    assert not customers.filter(phone="1390000").exists()
    assert Identity.objects.filter(enterprise=org.enterprise, kind="phone").count() == 995
    assert Event.objects.filter(name="member_imported").count() == 995
    assert Event.objects.filter(name="customer_created").count() == 995
    assert CustomerTag.objects.count() == 995 * 2
    spend = ImportedMemberProfile.objects.filter(enterprise=org.enterprise).values_list("lifetime_spend_fen", flat=True)
    assert set(spend) == {123456}
    row_7 = Customer.objects.get(phone=_phone(7))  # sheet row 9
    assert (row_7.name, row_7.gender, row_7.birthday) == ("会员7", "female", date(1990, 5, 1))
    event = Event.objects.get(customer=row_7, name="member_imported")
    assert event.properties["points_balance"] == 7 and event.properties["tier"] == "金卡"


def test_reupload_is_idempotent(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    content = _thousand()
    first = _import(scope, content)
    again = member_import.upload_member_file(scope=scope, stream=content)
    assert again.pk == first.pk  # the same file: the same import
    member_import.start_member_import(scope=scope, import_id=again.pk, enqueue=False)
    assert member_import.run_member_import(import_id=again.pk) == "skipped"
    # the same rows in another file (a BOM added): a new import that creates nobody and writes no event
    second = _import(scope, "\ufeff".encode() + content)
    assert second.pk != first.pk
    assert (second.created_customers, second.merged_customers, second.errors) == (0, 995, 5)
    assert Customer.objects.filter(enterprise=org.enterprise).count() == 995
    assert Event.objects.filter(name="member_imported").count() == 995
    assert Identity.objects.filter(enterprise=org.enterprise).count() == 995


def test_crash_mid_import_resumes_without_duplicates(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(member_import, "BATCH", 100)
    scope = scope_for_staff(org.hq)
    imp = member_import.upload_member_file(scope=scope, stream=_thousand())
    member_import.start_member_import(scope=scope, import_id=imp.pk, enqueue=False)

    def crash(batch: int) -> None:
        if batch == 3:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        member_import.run_member_import(import_id=imp.pk, after_batch=crash)
    imp.refresh_from_db()
    # 3 batches of 100 rows committed: sheet rows 2..301, two bad (rows 12 and 102)
    assert (imp.status, imp.checkpoint_row, imp.processed_rows) == ("failed", 301, 300)
    assert Customer.objects.filter(enterprise=org.enterprise).count() == 298
    member_import.start_member_import(scope=scope, import_id=imp.pk, enqueue=False)
    assert member_import.run_member_import(import_id=imp.pk) == "done"
    imp.refresh_from_db()
    assert (imp.processed_rows, imp.created_customers, imp.errors) == (1000, 995, 5)
    assert Customer.objects.filter(enterprise=org.enterprise).count() == 995
    assert Event.objects.filter(name="member_imported").count() == 995
    # row 302 repeats row 2's phone, which was committed before the crash: still reported as a duplicate
    assert MemberImportError.objects.filter(member_import=imp, row_number=302, code="duplicate_in_file").exists()


class _Killed(BaseException):
    """The worker process killed (SIGKILL, OOM): nothing in the product catches it, so no status is written."""


def test_worker_killed_inside_a_batch_rolls_it_back_and_resumes_without_duplicates(
        org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(member_import, "BATCH", 100)
    scope = scope_for_staff(org.hq)
    imp = member_import.upload_member_file(scope=scope, stream=_thousand())
    member_import.start_member_import(scope=scope, import_id=imp.pk, enqueue=False)
    write = member_import._write_batch
    calls = []

    def killed_after_writing(*args: Any, **kw: Any) -> Any:
        result = write(*args, **kw)  # every row of the batch written, its checkpoint not yet committed
        calls.append(1)
        if len(calls) == 4:
            raise _Killed
        return result

    monkeypatch.setattr(member_import, "_write_batch", killed_after_writing)
    with pytest.raises(_Killed):
        member_import.run_member_import(import_id=imp.pk)
    imp.refresh_from_db()
    # batches 1-3 (sheet rows 2..301, rows 12 and 102 bad) committed; batch 4 rolled back with its checkpoint
    assert (imp.status, imp.checkpoint_row, imp.processed_rows) == ("running", 301, 300)
    assert Customer.objects.filter(enterprise=org.enterprise).count() == 298
    assert Event.objects.filter(name="member_imported").count() == 298
    assert member_import.run_member_import(import_id=imp.pk) == "skipped"  # "running": not claimed twice
    member_import.resume_stale_import(scope=scope, import_id=imp.pk)
    assert member_import.run_member_import(import_id=imp.pk) == "done"
    imp.refresh_from_db()
    assert (imp.processed_rows, imp.created_customers, imp.merged_customers, imp.errors) == (1000, 995, 0, 5)
    assert Customer.objects.filter(enterprise=org.enterprise).count() == 995
    assert Identity.objects.filter(enterprise=org.enterprise).count() == 995
    assert Event.objects.filter(name="member_imported").count() == 995
    assert Event.objects.filter(name="customer_created").count() == 995
    assert ImportedMemberProfile.objects.filter(enterprise=org.enterprise).count() == 995
    assert sorted(MemberImportError.objects.filter(member_import=imp).values_list("row_number", flat=True)) == \
        sorted(BAD)


def test_merges_into_existing_customers_by_phone_and_unionid(org: Org) -> None:
    ent = org.enterprise.pk
    by_phone = create_customer(enterprise_id=ent, name="老王", phone="13900000001")
    by_union = create_customer(enterprise_id=ent, name="", identities=[IdentityInput(kind="unionid", value="U1")])
    only_phone = create_customer(enterprise_id=ent, name="李四", phone="13900000009", gender="female")
    content = _csv([
        ["13900000001", "王五", "男", "1980-02-03", "bj1", "50", "银卡", "", "U1", "", "", ""],
        ["13900000009", "李四四", "男", "", "", "", "", "", "U9", "", "", ""],
    ])
    imp = _import(scope_for_staff(org.hq), content)
    assert (imp.created_customers, imp.merged_customers) == (0, 2)
    survivor = Customer.objects.get(pk=by_phone.pk)
    absorbed = Customer.objects.get(pk=by_union.pk)
    assert absorbed.merged_into_id == survivor.pk  # the oldest customer survives
    assert Identity.objects.get(enterprise_id=ent, kind="unionid", value="U1").customer_id == survivor.pk
    # a channel's name wins over the sheet's; blanks are filled
    assert (survivor.name, survivor.gender, survivor.birthday, survivor.home_store_id) == \
        ("老王", "male", date(1980, 2, 3), org.store_n1.pk)
    assert ImportedMemberProfile.objects.get(customer=survivor).tier == "银卡"
    third = Customer.objects.get(pk=only_phone.pk)
    assert (third.name, third.gender) == ("李四", "female")
    assert Identity.objects.get(enterprise_id=ent, kind="unionid", value="U9").customer_id == third.pk


def test_only_hq_imports(org: Org) -> None:
    with pytest.raises(PermissionDenied):
        member_import.upload_member_file(scope=scope_for_staff(org.n1_manager), stream=_csv(_rows(1)))
    imp = member_import.upload_member_file(scope=scope_for_staff(org.hq), stream=_csv(_rows(1)))
    for staff in (org.north_manager, org.n1_staff):
        with pytest.raises(PermissionDenied):
            member_import.start_member_import(scope=scope_for_staff(staff), import_id=imp.pk, enqueue=False)


def _index_probes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Relation Name") == "customers_identity" else []
    for child in plan.get("Plans", []):
        found.extend(_index_probes(child))
    return found


def test_owner_lookup_probes_the_identity_index_per_value_on_postgres(org: Org) -> None:
    """The batch's look-up of the customers behind its identities finds the same owners whatever the table's size,
    and on PostgreSQL each value is an index condition, never a filter over every identity of the kind (the plan
    `value = ANY(array)` got with stale statistics: a scan of the table per batch, the import slowing as it grew)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    ent = org.enterprise.pk
    held = Customer.objects.bulk_create([Customer(enterprise_id=ent, phone=f"1390000{i:04d}", created_at=timezone.now())
                                         for i in range(3000)])
    Identity.objects.bulk_create([Identity(enterprise_id=ent, customer_id=c.pk, kind="phone", value=c.phone)
                                  for c in held])
    card = create_customer(enterprise_id=ent, name="卡", identities=[IdentityInput(kind="member_card", value="C9")])
    members = [sheet.Member(row_number=2, phone="13900000007"), sheet.Member(row_number=3, phone="13800000000"),
               sheet.Member(row_number=4, phone="13900002999", card_no="C9")]
    owners = member_import._owners(ent, members)
    assert owners == {("phone", "13900000007"): held[7].pk, ("phone", "13900002999"): held[2999].pk,
                      ("member_card", "C9"): card.pk}
    if connection.vendor != "postgresql":
        return
    with CaptureQueriesContext(connection) as captured:
        member_import._owners(ent, members)
    phone_lookup = next(q["sql"] for q in captured.captured_queries if "'phone'" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + phone_lookup)
        plan = cursor.fetchone()[0][0]["Plan"]
    probes = _index_probes(plan)
    assert probes and all("value" in p.get("Index Cond", "") and not p.get("Rows Removed by Filter")
                          for p in probes), plan
