"""The organisation sheet: what real sheets do to data (GBK, Excel serial dates, numbers for text, formulas, wrong
columns), the per-row report, apply, and re-upload changing nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from django.test import Client
from openpyxl import Workbook

from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.org import sheets
from siyu.org.models import OrgSheet, Region, Role, Staff, Store
from siyu.org.scope import scope_for_staff
from siyu.org.services import create_api_token
from tests.api.conftest import Api
from tests.conftest import Org

CSV = """type,code,name,region_code,city,address,opening_state,opened_on,userid,mobile,role,store_code
region,east,East China,,,,,,,,,
store,sh1,Shanghai 1,east,上海,南京西路 1 号,open,2024-03-01,,,,
store,sh2,Shanghai 2,east,上海,,preparing,45292,,,,
staff,,Wang Fang,,,,,,wang.fang,13800138000,store_manager,sh1
staff,,Li Lei,,,,,,li.lei,,store_staff,sh2
staff,,Zhao,,,,,,n1_staff,,store_staff,sh1
"""


def _xlsx(rows: list[list[Any]], title: str = "Sheet") -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def api_as(db: None) -> Callable[[Staff], Api]:
    def make(staff: Staff) -> Api:
        _token, secret = create_api_token(staff=staff, name=f"test {staff.name}")
        return Api(secret)

    return make


def preview(org: Org, content: bytes, name: str = "org.csv") -> OrgSheet:
    return sheets.preview_sheet(scope=scope_for_staff(org.hq), filename=name, content=content, actor=org.hq.user)


def errors(sheet: OrgSheet) -> dict[int, list[tuple[str, str]]]:
    return {i["row"]: [(e["field"], e["message"]) for e in i["errors"]] for i in sheet.report["items"] if i["errors"]}


def test_preview_reports_each_row_and_changes_nothing_then_apply_writes_it(org: Org) -> None:
    sheet = preview(org, CSV.encode())
    report = sheet.report
    assert (report["rows"], report["create"], report["update"], report["errors"]) == (6, 5, 1, 0)
    assert [(i["row"], i["type"], i["key"], i["action"]) for i in report["items"]] == [
        (2, "region", "east", "create"), (3, "store", "sh1", "create"), (4, "store", "sh2", "create"),
        (5, "staff", "wang.fang", "create"), (6, "staff", "li.lei", "create"), (7, "staff", "n1_staff", "update")]
    assert not Region.objects.filter(code="east").exists()

    applied = sheets.apply_sheet(scope=scope_for_staff(org.hq), sheet_id=sheet.pk, actor=org.hq.user)
    assert (applied["create"], applied["update"]) == (5, 1)
    east = Region.objects.get(enterprise=org.enterprise, code="east")
    sh1, sh2 = Store.objects.get(code="sh1"), Store.objects.get(code="sh2")
    assert (sh1.region_id, sh1.city, sh1.address, sh1.opening_state, sh1.opened_on) == (
        east.pk, "上海", "南京西路 1 号", "open", date(2024, 3, 1))
    assert (sh2.opening_state, sh2.opened_on) == ("preparing", date(2024, 1, 1))  # 45292 is 2024-01-01 in Excel
    wang = Staff.objects.get(wecom_userid="wang.fang")
    assert (wang.role, wang.store_id, wang.region_id, wang.mobile) == (Role.STORE_MANAGER, sh1.pk, east.pk,
                                                                       "13800138000")
    moved = Staff.objects.get(pk=org.n1_staff.pk)
    assert (moved.name, moved.store_id, moved.region_id) == ("Zhao", sh1.pk, east.pk)
    assert AuditEntry.objects.get(action="org.import").summary.startswith("org.csv: 5 created, 1 updated")


def test_uploading_the_same_sheet_again_changes_nothing(org: Org) -> None:
    first = preview(org, CSV.encode())
    sheets.apply_sheet(scope=scope_for_staff(org.hq), sheet_id=first.pk)
    counts = (Region.objects.count(), Store.objects.count(), Staff.objects.count())
    again = preview(org, CSV.encode())
    assert {i["action"] for i in again.report["items"]} == {"unchanged"}
    applied = sheets.apply_sheet(scope=scope_for_staff(org.hq), sheet_id=again.pk)
    assert (applied["create"], applied["update"], applied["unchanged"]) == (0, 0, 6)
    assert (Region.objects.count(), Store.objects.count(), Staff.objects.count()) == counts


def test_gbk_csv_with_chinese_headers(org: Org) -> None:
    text = ("类型,编码,名称,所属区域,城市,营业状态,企业微信账号,角色,所属门店\r\n"
            "区域,xinan,西南大区,,,,,,\r\n"
            "门店,cd1,成都春熙路店,xinan,成都,营业中,,,\r\n"
            "员工,,张伟,,,,zhang.wei,导购,cd1\r\n")
    sheet = preview(org, text.encode("gbk"), "组织.csv")
    assert sheet.report["errors"] == 0
    sheets.apply_sheet(scope=scope_for_staff(org.hq), sheet_id=sheet.pk)
    store = Store.objects.get(code="cd1")
    assert (store.name, store.city, store.region.name, store.opening_state) == (
        "成都春熙路店", "成都", "西南大区", "open")
    assert Staff.objects.get(wecom_userid="zhang.wei").name == "张伟"


def test_excel_unicode_text_export_is_utf16_with_tabs(org: Org) -> None:
    sheet = preview(org, "类型\t编码\t名称\n区域\tdongbei\t东北大区\n".encode("utf-16"), "org.txt")
    assert [(i["type"], i["key"], i["name"], i["action"]) for i in sheet.report["items"]] == [
        ("region", "dongbei", "东北大区", "create")]


def test_xlsx_numbers_meant_as_text_and_dates_as_serials_or_dates(org: Org) -> None:
    content = _xlsx([
        ["type", "code", "name", "region_code", "opening_state", "opened_on", "userid", "mobile", "role",
         "store_code"],
        ["store", 1001, "Store 1001", "north", "open", 45292, None, None, None, None],
        ["store", 1002.0, "Store 1002", "north", "open", datetime(2023, 12, 25),  # noqa: DTZ001 - Excel cells are naive
         None, None, None, None],
        ["staff", None, "Mobile As Float", None, None, None, "m.f", 13800138000.0, "store_staff", 1001],
    ])
    sheet = preview(org, content, "org.xlsx")
    assert errors(sheet) == {}
    sheets.apply_sheet(scope=scope_for_staff(org.hq), sheet_id=sheet.pk)
    assert Store.objects.get(code="1001").opened_on == date(2024, 1, 1)
    assert Store.objects.get(code="1002").opened_on == date(2023, 12, 25)
    staff = Staff.objects.get(wecom_userid="m.f")
    assert (staff.mobile, staff.store.code if staff.store else None) == ("13800138000", "1001")


def test_workbook_sheets_named_by_type_need_no_type_column(org: Org) -> None:
    from openpyxl import Workbook as Book

    book = Book()
    regions = book.active
    assert regions is not None
    regions.title = "区域"
    regions.append(["编码", "名称"])
    regions.append(["west", "West"])
    stores = book.create_sheet("门店")
    stores.append(["编码", "名称", "所属区域"])
    stores.append(["xa1", "Xi'an 1", "west"])
    out = io.BytesIO()
    book.save(out)
    sheet = preview(org, out.getvalue(), "org.xlsx")
    assert [(i["sheet"], i["row"], i["type"], i["action"]) for i in sheet.report["items"]] == [
        ("区域", 2, "region", "create"), ("门店", 2, "store", "create")]


def test_formula_without_a_saved_value_is_an_error_on_its_row(org: Org) -> None:
    content = _xlsx([
        ["type", "code", "name", "region_code"],
        ["store", "f1", '=CONCATENATE("Store ","F1")', "north"],
        ["store", "f2", "Store F2", "north"],
    ])
    sheet = preview(org, content, "org.xlsx")
    assert list(errors(sheet)) == [2]
    [(field, message)] = errors(sheet)[2]
    assert field == "name" and "formula" in message
    applied = sheets.apply_sheet(scope=scope_for_staff(org.hq), sheet_id=sheet.pk)
    assert (applied["create"], applied["errors"]) == (1, 1)
    assert not Store.objects.filter(code="f1").exists() and Store.objects.filter(code="f2").exists()


def test_bad_rows_are_named_one_by_one(org: Org) -> None:
    text = ("type,code,name,region_code,userid,mobile,role,store_code,opened_on\n"
            "store,ok1,Fine,north,,,,,\n"
            "store,bad code,Bad code,north,,,,,\n"
            "store,x2,No region,nowhere,,,,,\n"
            "store,ok1,Twice,north,,,,,\n"
            "staff,,Sci,,s.ci,1.38001E+10,store_staff,bj1,\n"
            "staff,,Role,,r.ole,,boss,bj1,\n"
            "staff,,No store,,n.store,,store_staff,zz9,\n"
            "shop,z1,Z,north,,,,,\n"
            "store,d1,Bad date,north,,,,,31/31/2024\n"
            "staff,,Short mobile,,s.m,12345,store_staff,bj1,\n")
    sheet = preview(org, text.encode())
    found = {row: [field for field, _ in errs] for row, errs in errors(sheet).items()}
    assert found == {3: ["code"], 4: ["region_code"], 5: ["code"], 6: ["mobile"], 7: ["role"], 8: ["store_code"],
                     9: ["type"], 10: ["opened_on"], 11: ["mobile"]}
    assert sheet.report["create"] == 1


@pytest.mark.parametrize(("content", "code"), [
    (b"foo,bar\n1,2\n", "wrong_columns"),
    (b"code,name\nx,y\n", "wrong_columns"),
    (b"", "empty"),
    (b"type,code,name\n", "empty"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "bad_file"),
    (b"PK\x03\x04not really a zip", "bad_file"),
    (b"type,code,name\nregion,r\x00,R\n", "bad_encoding"),
])
def test_sheets_that_cannot_be_read_are_refused_whole(org: Org, content: bytes, code: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        preview(org, content)
    assert err.value.code == code
    assert not OrgSheet.objects.exists()


def test_unknown_columns_are_named(org: Org) -> None:
    with pytest.raises(ValidationFailed) as err:
        preview(org, b"type,code,name,colour\nregion,r,R,red\n")
    assert err.value.field == "columns" and "colour" in err.value.message


def test_only_hq_imports(org: Org) -> None:
    with pytest.raises(PermissionDenied):
        sheets.preview_sheet(scope=scope_for_staff(org.n1_manager), filename="x.csv", content=CSV.encode())
    sheet = preview(org, CSV.encode())
    with pytest.raises(PermissionDenied):
        sheets.apply_sheet(scope=scope_for_staff(org.north_manager), sheet_id=sheet.pk)
    assert not Region.objects.filter(code="east").exists()


def test_api_upload_then_apply(org: Org, api_as: Callable[[Staff], Api]) -> None:
    hq = api_as(org.hq)
    response = hq.client.post("/api/org/sheets", {"file": _upload("org.csv", CSV.encode())}, headers=hq.headers)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["rows"], body["create"], body["errors"]) == (6, 5, 0)
    applied = hq.client.post(f"/api/org/sheets/{body['id']}/apply", headers=hq.headers)
    assert applied.status_code == 200 and applied.json()["applied_at"]
    assert Store.objects.filter(code__in=["sh1", "sh2"]).count() == 2
    bad = hq.client.post("/api/org/sheets", {"file": _upload("x.csv", b"foo,bar\n1,2\n")}, headers=hq.headers)
    assert (bad.status_code, bad.json()["field"]) == (422, "columns")
    mgr = api_as(org.n1_manager)
    refused = mgr.client.post("/api/org/sheets", {"file": _upload("org.csv", CSV.encode())}, headers=mgr.headers)
    assert refused.status_code == 403


def _upload(name: str, content: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_console_upload_preview_and_apply(org: Org, client: Client) -> None:
    client.force_login(org.hq.user)  # type: ignore[arg-type]
    response = client.post("/org/import/", {"file": _upload("org.csv", CSV.encode())})
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200 and "wang.fang" in page.content.decode()
    sheet = OrgSheet.objects.get()
    client.post(f"/org/import/{sheet.pk}/apply/")
    assert Store.objects.filter(code="sh1").exists()
    client.force_login(org.n1_manager.user)  # type: ignore[arg-type]
    assert client.get("/org/import/").status_code == 403
