"""The member import through the console and the API: upload, mapping, preview, dry run, the job (immediate task
backend), progress, the report as Excel; in Chinese and English."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from siyu.customers.models import Customer, MemberImport
from tests.conftest import Org

SHEET = b"Mobile,Full Name,Store Code\n13900000001,Ada,bj1\n13900000002,Bo,nowhere\n12345,Cy,bj1\n"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def _client(org: Org, lang: str = "en") -> Client:
    client = Client()
    client.cookies["django_language"] = lang
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    return client


def test_console_upload_map_dry_run_import_and_report(org: Org, django_capture_on_commit_callbacks: Any) -> None:
    hq = _client(org)
    response = hq.post("/member-imports/", {"file": SimpleUploadedFile("members.csv", SHEET, "text/csv")})
    imp = MemberImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/member-imports/{imp.pk}/"
    assert imp.mapping == {"phone": "Mobile", "name": "Full Name", "store_code": "Store Code"}
    page = hq.get(f"/member-imports/{imp.pk}/").content.decode()
    assert 'id="preview-table"' in page and "no store has this code" in page and "Ada" in page
    hq.post(f"/member-imports/{imp.pk}/dry-run/")
    imp.refresh_from_db()
    assert (imp.total_rows, imp.valid_rows, imp.errors) == (3, 1, 2)
    assert not Customer.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        hq.post(f"/member-imports/{imp.pk}/start/")
    imp.refresh_from_db()
    assert (imp.status, imp.created_customers, imp.errors) == ("done", 1, 2)
    assert Customer.objects.get().name == "Ada"
    page = hq.get(f"/member-imports/{imp.pk}/").content.decode()
    assert 'data-status="done"' in page and 'data-row="3"' in page and 'data-row="4"' in page
    book = openpyxl.load_workbook(io.BytesIO(hq.get(f"/member-imports/{imp.pk}/errors.xlsx").content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][0] == "Row" and [(r[0], r[2]) for r in rows[1:]] == [(3, "nowhere"), (4, "12345")]
    listing = hq.get("/member-imports/").content.decode()
    assert "members.csv" in listing
    assert _client(org, "zh-hans").get("/member-imports/").content.decode().count("会员导入") >= 1


def test_console_refuses_a_bad_file_with_a_reason(org: Org) -> None:
    old_excel = SimpleUploadedFile("x.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 40)
    page = _client(org).post("/member-imports/", {"file": old_excel})
    assert page.status_code == 200 and "save the sheet as .xlsx or CSV" in page.content.decode()
    assert not MemberImport.objects.exists()


def test_api_flow_and_field_errors(org: Org) -> None:
    hq = _client(org)
    created = hq.post("/api/admin/member-imports", {"file": SimpleUploadedFile("m.csv", SHEET, "text/csv")})
    assert created.status_code == 201
    body = created.json()
    url = f"/api/admin/member-imports/{body['id']}"
    bad = hq.put(f"{url}/mapping", {"mapping": {"phone": "Nope"}}, content_type="application/json")
    assert bad.status_code == 422 and "mapping.phone" in bad.content.decode()
    ok = hq.put(f"{url}/mapping", {"mapping": {"phone": "Mobile", "name": "Full Name"}},
                content_type="application/json")
    assert ok.status_code == 200 and ok.json()["mapping"] == {"phone": "Mobile", "name": "Full Name"}
    preview = hq.get(f"{url}/preview").json()
    assert [r["row_number"] for r in preview] == [2, 3, 4] and preview[2]["problems"][0]["code"] == "invalid_phone"
    assert hq.post(f"{url}/dry-run").json() == {"total_rows": 3, "valid_rows": 2, "error_rows": 1}
    errors = hq.get(f"{url}/errors").json()
    assert [(e["row_number"], e["field"], e["code"]) for e in errors] == [(4, "phone", "invalid_phone")]
