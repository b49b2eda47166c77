"""Background exports: the console and the API queue an export of the current filter; the worker writes CSV or
Excel in keyset chunks with progress; only the requester can read or download it; money is numbers, phones follow the
phone-visibility rule; the file name on disk is not guessable."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from siyu.core.errors import DomainError
from siyu.core.models import AuditEntry
from siyu.customers import services as customer_services
from siyu.exports import services, sheets
from siyu.exports.models import ExportJob
from siyu.orders.models import Order
from siyu.org.scope import scope_for_staff
from siyu.org.services import create_api_token
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db
T = TypeVar("T")
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _tasks_run_now(settings: Any, tmp_path: Any) -> None:
    settings.TASKS = IMMEDIATE
    settings.SIYU_EXPORT_DIR = tmp_path / "exports"


@pytest.fixture
def worker(django_capture_on_commit_callbacks: Any) -> Callable[[Callable[[], T]], T]:
    """Run a request; then, as after its commit, the worker runs what it queued."""
    def run(call: Callable[[], T]) -> T:
        with django_capture_on_commit_callbacks(execute=True):
            return call()
    return run


def start(client: Client, worker: Any, form: dict[str, str]) -> Any:
    return worker(lambda: client.post("/exports/start/", form))


def _download(client: Client, job: ExportJob) -> bytes:
    response = client.get(f"/exports/{job.pk}/download/")
    assert response.status_code == 200
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_console_export_of_the_filter_as_csv_masks_phones_for_store_staff(
        client: Client, org: Org, people: People, worker: Any) -> None:
    assert org.n1_staff.user is not None
    client.force_login(org.n1_staff.user)
    response = start(client, worker, {"kind": "customers", "format": "csv", "query": "", "key": "k1"})
    assert response.status_code == 302 and response["Location"] == "/exports/"
    job = ExportJob.objects.get()
    assert (job.status, job.total_rows, job.done_rows) == ("done", 1, 1)
    assert job.file_name == f"{job.token}.csv" and len(job.token) >= 32  # the name on disk is not the id
    rows = list(csv.reader(io.StringIO(_download(client, job).decode("utf-8")[1:])))
    assert rows[0][:3] == ["ID", "姓名", "手机号"]
    assert rows[1][:3] == [str(people.ada.pk), "Ada Wang", "138****0001"]
    assert AuditEntry.objects.filter(action="customer.export", actor=org.n1_staff.user).count() == 1
    page = client.get("/exports/").content.decode()
    assert f"/exports/{job.pk}/download/" in page and "下载" in page


def test_export_follows_the_list_filter_and_the_manager_sees_full_phones(
        client: Client, org: Org, people: People, worker: Any) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    start(client, worker, {"kind": "customers", "format": "xlsx", "query": f"tag={people.vip.pk}"})
    job = ExportJob.objects.get()
    assert job.filters == {"tag_id": people.vip.pk}
    book = load_workbook(io.BytesIO(_download(client, job)), read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert [row[1] for row in rows[1:]] == ["Ada Wang"]
    assert rows[1][2] == "13800000001" and rows[1][0] == people.ada.pk  # an id is a number, the phone is text


def test_only_the_requester_can_see_or_download_an_export(
        client: Client, org: Org, people: People, worker: Any) -> None:
    assert org.hq.user is not None and org.north_manager.user is not None
    client.force_login(org.hq.user)
    start(client, worker, {"kind": "customers", "format": "csv", "query": ""})
    job = ExportJob.objects.get()
    other = Client()
    other.force_login(org.north_manager.user)
    assert other.get(f"/exports/{job.pk}/download/").status_code == 404
    assert f"/exports/{job.pk}/download/" not in other.get("/exports/").content.decode()
    assert client.get(f"/exports/{job.pk + 1}/download/").status_code == 404


def _order(org: Org, people: People, no: str, amount: int, refunded: int = 0) -> Order:
    return Order.objects.create(enterprise=org.enterprise, customer=people.ada, store=org.store_n1, order_no=no,
                                status="paid", list_total_fen=amount, amount_fen=amount, paid_fen=amount,
                                refunded_fen=refunded, created_at=timezone.now())


def test_order_export_writes_money_as_numbers_in_excel_and_csv(
        client: Client, org: Org, people: People, worker: Any) -> None:
    _order(org, people, "S0001", 14950)
    _order(org, people, "S0002", 99)
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    start(client, worker, {"kind": "orders", "format": "xlsx", "query": ""})
    start(client, worker, {"kind": "orders", "format": "csv", "query": "q=S0001"})
    xlsx_job, csv_job = ExportJob.objects.order_by("id")
    sheet = load_workbook(io.BytesIO(_download(client, xlsx_job))).worksheets[0]
    header = [cell.value for cell in sheet[1]]
    paid = header.index("已支付")
    by_no = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    assert by_no["S0001"][paid].value == Decimal("149.5") or by_no["S0001"][paid].value == 149.5
    assert by_no["S0002"][paid].value == pytest.approx(0.99)
    assert by_no["S0001"][paid].number_format == "0.00"
    rows = list(csv.reader(io.StringIO(_download(client, csv_job).decode("utf-8")[1:])))
    assert [row[0] for row in rows[1:]] == ["S0001"]
    assert rows[1][rows[0].index("已支付")] == "149.50"
    assert "¥" not in json.dumps(rows)


def test_keyset_chunks_read_every_row_once_with_bounded_queries(org: Org, people: People) -> None:
    for i in range(23):
        customer_services.create_customer(enterprise_id=org.enterprise.pk, name=f"c{i}", created_source="wecom")
    qs = sheets.customer_sheet(scope_for_staff(org.hq), sheets.build_filter("customers", {}))[0]
    with CaptureQueriesContext(connection) as queries:
        seen = [c.pk for c in sheets.keyset(qs, chunk=5)]
    assert sorted(seen, reverse=True) == seen and len(seen) == len(set(seen)) == 26
    assert len(queries) == 2 * 6  # six chunks of at most 5 (the last one short), each one query + its tags


def test_bad_input_is_refused_before_anything_is_written(org: Org) -> None:
    scope = scope_for_staff(org.hq)
    for kind, fmt, filters, field in (("users", "csv", {}, "kind"), ("orders", "pdf", {}, "format"),
                                      ("orders", "csv", {"date_from": "yesterday"}, "filters.date_from"),
                                      ("customers", "csv", {"password": "x"}, "filters.password")):
        with pytest.raises(DomainError) as refused:
            services.start_export(scope=scope, actor=org.hq.user, kind=kind, file_format=fmt, filters=filters)
        assert getattr(refused.value, "field", None) == field
    assert ExportJob.objects.count() == 0


def test_api_start_status_download_and_a_repeated_key(org: Org, people: People, worker: Any) -> None:
    _token, secret = create_api_token(staff=org.hq, name="erp")
    # The file is written in the caller's language (the API's default is English).
    api = Client(headers={"Authorization": f"Bearer {secret}", "Accept-Language": "zh-hans"})
    body = json.dumps({"kind": "customers", "format": "csv", "filters": {"channel": "wecom"}})
    first = worker(lambda: api.post("/api/exports", body, content_type="application/json",
                                    headers={"Idempotency-Key": "e-1"}))
    again = worker(lambda: api.post("/api/exports", body, content_type="application/json",
                                    headers={"Idempotency-Key": "e-1"}))
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"] and ExportJob.objects.count() == 1
    status = api.get(f"/api/exports/{first.json()['id']}").json()
    assert (status["status"], status["total_rows"], status["percent"]) == ("done", 2, 100)
    download = api.get(status["download_url"])
    body = b"".join(download.streaming_content).decode()  # type: ignore[attr-defined]
    names = {row[1] for row in csv.reader(io.StringIO(body[1:]))}
    assert names == {"姓名", "Ada Wang", "Cai Zhang"}
    _other, other_secret = create_api_token(staff=org.n1_manager, name="other")
    other = Client(headers={"Authorization": f"Bearer {other_secret}"})
    assert other.get(f"/api/exports/{first.json()['id']}").status_code == 404
    bad = api.post("/api/exports", json.dumps({"kind": "orders", "filters": {"nope": 1}}),
                   content_type="application/json", headers={"Idempotency-Key": "e-2"})
    assert bad.status_code == 422 and bad.json()["field"] == "filters.nope"
