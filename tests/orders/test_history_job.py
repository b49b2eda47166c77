"""The POS order-history import as the console runs it: upload (CSV in GBK, Excel), mapping, dry run with a report
per row, the job in batches with a checkpoint, idempotent re-upload and overlap, resumption after a crash, and the
console pages (HQ only). Expected figures are computed by hand from the sheets below."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from siyu.core.errors import PermissionDenied, ValidationFailed
from siyu.core.models import AuditEntry
from siyu.core.timeutil import SHANGHAI
from siyu.customers.models import Customer, Event, Identity
from siyu.orders.models import HistoryImport, HistoryImportError, Order, OrderLine
from siyu.orders.services import history_job
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HEADER = ["门店编码", "小票号", "交易时间", "会员手机号", "会员卡号", "商品编码", "商品名称", "数量", "实收金额"]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _csv(rows: list[list[Any]], encoding: str = "utf-8") -> bytes:
    lines = [",".join(HEADER)] + [",".join(str(c) for c in row) for row in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# Sheet rows (the header is row 1):
#  2-3  bj1 A001 two lines 12.50 + 7.50 = 20.00, buyer 13900000001 (a known customer)
#  4    bj1 A002 one line 99.90, buyer 13900000002 (nobody yet: a new customer)
#  5-6  gz1 B001 row 6 has amount "abc" -> the receipt is refused, row 5 reported receipt_refused
#  7    zz9 C001 unknown store
#  8    bj1 A003 card only (nobody has it) -> an order without a customer, 5.00
#  9    bj1 A001 again, apart from its first rows -> duplicate_in_file
#  10   bj1 A004 dated in the future
GOOD_SHEET = [
    ["bj1", "A001", "2024-03-01 10:00:00", "13900000001", "", "S1", "拿铁", "2", "12.50"],
    ["bj1", "A001", "2024-03-01 10:00:00", "13900000001", "", "S2", "可颂", "1", "7.50"],
    ["bj1", "A002", "2024/03/02 11:30", "139-0000-0002", "", "S1", "拿铁", "1", "99.90"],
    ["gz1", "B001", "2024-03-03 09:00:00", "13900000003", "", "S3", "蛋糕", "1", "30.00"],
    ["gz1", "B001", "2024-03-03 09:00:00", "13900000003", "", "S4", "果汁", "1", "abc"],
    ["zz9", "C001", "2024-03-04 09:00:00", "13900000004", "", "S1", "拿铁", "1", "10.00"],
    ["bj1", "A003", "2024-03-05 08:00:00", "", "CARD-77", "S1", "拿铁", "1", "5.00"],
    ["bj1", "A001", "2024-03-01 10:00:00", "13900000001", "", "S1", "拿铁", "1", "12.50"],
    ["bj1", "A004", "2099-01-01 08:00:00", "13900000001", "", "S1", "拿铁", "1", "1.00"],
]


def _run(scope: Any, imp: HistoryImport, **kw: Any) -> HistoryImport:
    history_job.start_history_import(scope=scope, import_id=imp.pk, enqueue=False)
    history_job.run_history_import(import_id=imp.pk, **kw)
    imp.refresh_from_db()
    return imp


def test_gbk_sheet_mapping_dry_run_report_and_import(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    known = CustomerFactory.create(enterprise=org.enterprise, phone="13900000001")
    Identity.objects.create(enterprise=org.enterprise, customer=known, kind="phone", value="13900000001")
    imp = history_job.upload_history_file(scope=scope, stream=_csv(GOOD_SHEET, "gbk"), filename="pos.csv")
    assert (imp.file_format, imp.encoding) == ("csv", "gb18030")
    assert imp.mapping == {"store_code": "门店编码", "order_no": "小票号", "time": "交易时间", "phone": "会员手机号",
                           "card_no": "会员卡号", "sku_code": "商品编码", "item": "商品名称", "quantity": "数量",
                           "amount": "实收金额"}

    report = history_job.dry_run(scope=scope, import_id=imp.pk)
    assert (report.total_rows, report.receipts, report.error_rows, report.already_imported) == (9, 7, 5, 0)
    errors = {(e.row_number, e.field, e.code) for e in HistoryImportError.objects.filter(history_import=imp)}
    assert errors == {(5, "", "receipt_refused"), (6, "amount", "invalid_amount"), (7, "store_code", "unknown_store"),
                      (9, "order_no", "duplicate_in_file"), (10, "time", "future_time")}
    assert not Order.objects.exists()  # a dry run writes nothing

    imp = _run(scope, imp)
    assert (imp.status, imp.orders_created, imp.matched, imp.created_customers, imp.without_customer,
            imp.error_rows, imp.processed_rows, imp.checkpoint_row) == ("done", 3, 1, 1, 1, 5, 9, 10)
    orders = {o.external_order_no: o for o in Order.objects.filter(enterprise=org.enterprise)}
    assert set(orders) == {"A001", "A002", "A003"}
    a001 = orders["A001"]
    assert (a001.amount_fen, a001.paid_fen, a001.status, a001.source, a001.customer_id, a001.store_id) == (
        2000, 2000, "completed", "store", known.pk, org.store_n1.pk)
    assert a001.paid_at == datetime(2024, 3, 1, 10, 0, tzinfo=SHANGHAI)
    assert [(line.name, line.quantity, line.amount_fen) for line in OrderLine.objects.filter(order=a001)
            .order_by("index")] == [("拿铁", 2, 1250), ("可颂", 1, 750)]
    assert orders["A002"].amount_fen == 9990
    assert orders["A002"].customer_id is not None
    new_buyer = Customer.objects.get(pk=orders["A002"].customer_id)
    assert new_buyer.phone == "13900000002"
    assert orders["A003"].customer_id is None
    # RFM and repurchase read these: paid and completed at the receipt's time, for buyers only
    paid = Event.objects.filter(name="order_paid", enterprise=org.enterprise)
    assert sorted((e.customer_id, e.properties["amount_fen"]) for e in paid) == sorted(
        [(known.pk, 2000), (new_buyer.pk, 9990)])
    assert paid.get(customer=known).occurred_at == datetime(2024, 3, 1, 10, 0, tzinfo=SHANGHAI)
    assert AuditEntry.objects.filter(action="orders.history_import.done", target_id=str(imp.pk)).exists()


def test_reupload_returns_the_import_and_an_overlapping_file_adds_nothing_twice(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    content = _csv(GOOD_SHEET[:3])
    first = _run(scope, history_job.upload_history_file(scope=scope, stream=content, filename="a.csv"))
    assert first.orders_created == 2
    again = history_job.upload_history_file(scope=scope, stream=content, filename="a-again.csv")
    assert again.pk == first.pk and HistoryImport.objects.count() == 1
    assert history_job.start_history_import(scope=scope, import_id=first.pk).status == "done"  # nothing queued
    overlap = [*GOOD_SHEET[:3], ["tj1", "T001", "2024-03-06 08:00:00", "13900000009", "", "S1", "拿铁", "3", "36"]]
    second = history_job.upload_history_file(scope=scope, stream=_csv(overlap), filename="b.csv")
    assert history_job.dry_run(scope=scope, import_id=second.pk).already_imported == 2
    second = _run(scope, second)
    assert (second.orders_created, second.duplicates) == (1, 2)
    assert Order.objects.filter(enterprise=org.enterprise).count() == 3
    assert OrderLine.objects.filter(order__enterprise=org.enterprise).count() == 4
    assert Event.objects.filter(name="order_paid").count() == 3


def test_excel_cells_serial_times_number_phones_and_formulas(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    content = _xlsx([
        # an Excel date-time serial: 45352.5 = 2024-03-01 12:00; the phone a number with +86's digits
        ["bj1", 1001, 45352.5, 8613900000011, None, "S1", "拿铁", 1, 18.8],
        # a date-time cell; a phone that lost its leading digits' formatting as a float
        ["bj1", 1002, datetime(2024, 3, 2, 9, 15), 13900000012.0, None, "S1", "拿铁", 2.0, 40],  # noqa: DTZ001
        ["bj1", 1003, "2024-03-03 09:00", "=A1", None, "S1", "拿铁", 1, 1],  # a formula: refused
        ["bj1", 1004, "2024-03-03 09:00", "1.39E+10", None, "S1", "拿铁", 1, 1],  # Excel lost the digits
    ])
    imp = history_job.upload_history_file(scope=scope, stream=content, filename="pos.xlsx")
    assert imp.file_format == "xlsx"
    imp = _run(scope, imp)
    errors = {(e.row_number, e.field, e.code) for e in HistoryImportError.objects.filter(history_import=imp)}
    assert errors == {(4, "phone", "formula"), (5, "phone", "phone_lost_digits")}
    orders = {o.external_order_no: o for o in Order.objects.filter(enterprise=org.enterprise)}
    assert set(orders) == {"1001", "1002"}
    assert orders["1001"].paid_at == datetime(2024, 3, 1, 12, 0, tzinfo=SHANGHAI)
    assert orders["1001"].amount_fen == 1880 and orders["1002"].amount_fen == 4000
    assert orders["1002"].paid_at == datetime(2024, 3, 2, 9, 15, tzinfo=SHANGHAI)
    phones = set(Customer.objects.filter(pk__in=[o.customer_id for o in orders.values()])
                 .values_list("phone", flat=True))
    assert phones == {"13900000011", "13900000012"}


def test_wrong_columns_and_unreadable_files_are_refused_with_the_field(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    imp = history_job.upload_history_file(scope=scope, stream="门店,时间\nbj1,2024-01-01\n".encode(), filename="x.csv")
    with pytest.raises(ValidationFailed) as caught:
        history_job.dry_run(scope=scope, import_id=imp.pk)
    assert caught.value.field is not None and caught.value.field.startswith("mapping.")
    with pytest.raises(ValidationFailed) as bad:
        history_job.set_mapping(scope=scope, import_id=imp.pk, mapping={"store_code": "门店", "order_no": "门店"})
    assert bad.value.code == "invalid_mapping"
    with pytest.raises(ValidationFailed) as xls:
        history_job.upload_history_file(scope=scope, stream=b"\xd0\xcf\x11\xe0rest-of-an-old-xls", filename="o.xls")
    assert (xls.value.field, xls.value.code) == ("file", "xls_not_supported")
    with pytest.raises(ValidationFailed) as latin:
        history_job.upload_history_file(scope=scope, stream=b"\xff\xfe\x00\x81\x00", filename="u.csv")
    assert latin.value.code == "bad_encoding"


def _many(receipts: int) -> bytes:
    rows = []
    for i in range(receipts):
        rows.append(["bj1", f"R{i:04d}", "2024-04-01 10:00:00", f"1390000{i:04d}", "", "S1", "拿铁", "1", "10"])
        rows.append(["bj1", f"R{i:04d}", "2024-04-01 10:00:00", f"1390000{i:04d}", "", "S2", "可颂", "1", "5"])
    return _csv(rows)


def test_crash_mid_import_resumes_without_duplicates(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    scope = scope_for_staff(org.hq)
    monkeypatch.setattr(history_job, "BATCH_RECEIPTS", 3)
    imp = history_job.upload_history_file(scope=scope, stream=_many(10), filename="many.csv")
    history_job.start_history_import(scope=scope, import_id=imp.pk, enqueue=False)

    def crash(batch: int) -> None:
        if batch == 2:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        history_job.run_history_import(import_id=imp.pk, after_batch=crash)
    imp.refresh_from_db()
    assert (imp.status, imp.checkpoint_row, imp.orders_created) == ("failed", 13, 6)  # 6 receipts = rows 2..13
    assert Order.objects.filter(enterprise=org.enterprise).count() == 6
    imp = _run(scope, imp)
    assert (imp.status, imp.orders_created, imp.duplicates, imp.processed_rows) == ("done", 10, 0, 20)
    assert Order.objects.filter(enterprise=org.enterprise).count() == 10
    assert OrderLine.objects.filter(order__enterprise=org.enterprise).count() == 20
    assert Event.objects.filter(name="order_completed", enterprise=org.enterprise).count() == 10


def test_only_hq_of_the_enterprise(org: Org) -> None:
    imp = history_job.upload_history_file(scope=scope_for_staff(org.hq), stream=_csv(GOOD_SHEET[:1]))
    for staff in (org.north_manager, org.n1_manager, org.n1_staff):
        with pytest.raises(PermissionDenied):
            history_job.upload_history_file(scope=scope_for_staff(staff), stream=_csv(GOOD_SHEET[:1]))
        client = Client()
        assert staff.user is not None
        client.force_login(staff.user)
        assert client.get("/orders/history/").status_code == 403
        assert client.post(f"/orders/history/{imp.pk}/start/").status_code == 403
    assert HistoryImport.objects.get(pk=imp.pk).status == "uploaded"


def _hq(org: Org, lang: str = "en") -> Client:
    client = Client()
    client.cookies["django_language"] = lang
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    return client


def test_console_upload_map_preview_dry_run_import_and_report(org: Org, settings: Any,
                                                             django_capture_on_commit_callbacks: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    hq = _hq(org)
    sheet = "Store,Receipt,Time,Mobile,Amount,Item\nbj1,X1,2024-05-01 10:00,13900000021,12.00,拿铁\n" \
            "nowhere,X2,2024-05-01 11:00,13900000022,3.00,可颂\n"
    response = hq.post("/orders/history/", {"file": SimpleUploadedFile("pos.csv", sheet.encode(), "text/csv")})
    imp = HistoryImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/orders/history/{imp.pk}/"
    assert imp.mapping == {"store_code": "Store", "time": "Time", "phone": "Mobile", "item": "Item",
                           "amount": "Amount"}  # "Receipt" is not a known name: mapped by hand below
    page = hq.get(f"/orders/history/{imp.pk}/").content.decode()
    assert 'id="history-preview-table"' in page and "no store has this code" in page
    assert hq.post(f"/orders/history/{imp.pk}/dry-run/").status_code == 302
    assert "Receipt number" in hq.get(f"/orders/history/{imp.pk}/").content.decode()  # the mapping's error
    form = {f"map_{k}": v for k, v in imp.mapping.items()} | {"map_order_no": "Receipt"}
    hq.post(f"/orders/history/{imp.pk}/mapping/", form)
    hq.post(f"/orders/history/{imp.pk}/dry-run/")
    imp.refresh_from_db()
    assert (imp.total_rows, imp.error_rows) == (2, 1)
    with django_capture_on_commit_callbacks(execute=True):
        hq.post(f"/orders/history/{imp.pk}/start/")
    imp.refresh_from_db()
    assert (imp.status, imp.orders_created) == ("done", 1)
    page = hq.get(f"/orders/history/{imp.pk}/").content.decode()
    assert 'data-status="done"' in page and 'data-row="3"' in page
    book = openpyxl.load_workbook(io.BytesIO(hq.get(f"/orders/history/{imp.pk}/errors.xlsx").content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert [(r[0], r[2]) for r in rows[1:]] == [(3, "nowhere")]
    zh = _hq(org, "zh-hans").get("/orders/history/").content.decode()
    assert "门店订单历史" in zh and "pos.csv" in zh


def test_api_flow_and_field_errors(org: Org) -> None:
    hq = _hq(org)
    sheet = _csv(GOOD_SHEET[:5])
    created = hq.post("/api/admin/order-history-imports", {"file": SimpleUploadedFile("p.csv", sheet, "text/csv")})
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "uploaded" and body["mapping"]["order_no"] == "小票号" and "amount" in body["fields"]
    path = f"/api/admin/order-history-imports/{body['id']}"
    bad = hq.put(f"{path}/mapping", {"mapping": {"store_code": "门店编码"}}, content_type="application/json")
    assert bad.status_code == 422 and bad.json()["field"].startswith("mapping.")
    preview = hq.get(f"{path}/preview").json()
    assert [p["code"] for p in preview[4]["problems"]] == ["invalid_amount"]  # row 6's amount is "abc"
    assert hq.post(f"{path}/dry-run").json() == {"total_rows": 5, "receipts": 3, "error_rows": 2,
                                                 "already_imported": 0}
    assert [(e["row_number"], e["code"]) for e in hq.get(f"{path}/errors").json()] == [
        (5, "receipt_refused"), (6, "invalid_amount")]
    started = hq.post(f"{path}/start")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    history_job.run_history_import(import_id=body["id"])
    done = hq.get(path).json()
    assert (done["status"], done["orders_created"], done["error_rows"]) == ("done", 2, 2)
