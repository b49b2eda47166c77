"""Issue 26 in Chromium at 375 px, in Chinese: an operator filters the customer list, tags every customer the
filter matches after a confirmation naming the count; then exports the filtered list to Excel in the background,
watches it finish and downloads a file holding exactly those customers."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from siyu.customers import services
from siyu.customers.models import CustomerTag
from siyu.exports import services as export_services
from siyu.exports.models import ExportJob
from siyu.org.scope import scope_for_staff
from tests.conftest import Org

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
QUEUE_ONLY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def _sign_in(page: Page, base: str, then: str) -> None:
    page.goto(f"{base}/login/?next={then}")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}")


def _people(org: Org) -> tuple[list[int], list[int], Any]:
    ent, now = org.enterprise.pk, timezone.now()
    wecom = [services.create_customer(enterprise_id=ent, name=f"企微客户{i}", phone=f"1380000{i:04d}",
                                      created_source="wecom", created_at=now).pk for i in range(25)]
    others = [services.create_customer(enterprise_id=ent, name=f"公众号客户{i}", created_source="official_account",
                                       created_at=now).pk for i in range(5)]
    group = services.create_tag_group(enterprise_id=ent, name="活动")
    return wecom, others, services.create_tag(group=group, name="双十一")


def test_bulk_tag_all_filtered_then_export_them_in_the_background(
        browser: Any, live_server: Any, org: Org, settings: Any, tmp_path: Path) -> None:
    settings.TASKS = QUEUE_ONLY  # the export waits in the queue until this test plays the worker
    settings.SIYU_EXPORT_DIR = tmp_path / "exports"
    wecom, others, tag = _people(org)
    base = live_server.url
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    _sign_in(page, base, "/customers/?channel=wecom")
    expect(page.locator("#results .result-meta")).to_contain_text("25 位客户")

    page.click("#bulk-bar summary")
    page.check("#bulk-form input[name=target][value=all]")
    page.fill("#picker-tag input.picker-q", "双十")
    page.click(f'#picker-tag [data-pick="{tag.pk}"]')
    page.click("#bulk-next")
    expect(page.locator(".bulk-summary")).to_have_text("为 25 位客户添加标签“双十一”？")
    assert CustomerTag.objects.filter(tag=tag).count() == 0  # nothing before the confirmation
    page.click("#bulk-confirm-button")
    page.wait_for_url(re.compile(r".*/customers/\?channel=wecom$"))
    expect(page.locator(".msg").first).to_contain_text("已为 25 位客户添加标签“双十一”")
    tagged = set(CustomerTag.objects.filter(tag=tag).values_list("customer_id", flat=True))
    assert tagged == set(wecom) and not tagged & set(others)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    page.click("#export-xlsx")
    page.wait_for_url(f"{base}/exports/")
    row = page.locator("#export-jobs tr[data-export-id]").first
    expect(row).to_have_attribute("data-status", "queued")
    job = ExportJob.objects.get()
    assert job.filters == {"channel": "wecom"}
    assert export_services.run_export(job_id=job.pk) == "done"  # the worker's step
    expect(page.locator("#export-jobs tr[data-export-id]").first).to_have_attribute("data-status", "done",
                                                                                      timeout=10000)
    with page.expect_download() as waiting:
        page.click("#export-jobs .export-download")
    download = waiting.value
    assert re.fullmatch(r"customers-\d{8}-\d{4}\.xlsx", download.suggested_filename)
    sheet = load_workbook(io.BytesIO(Path(download.path()).read_bytes()), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("ID", "姓名", "手机号")
    assert {row[0] for row in rows[1:]} == set(wecom)
    assert all("双十一" in str(row[7]) for row in rows[1:])
    context.close()


def test_an_export_put_back_after_a_lost_worker_says_retrying_then_finishes(
        browser: Any, live_server: Any, org: Org, settings: Any, tmp_path: Path) -> None:
    settings.TASKS = QUEUE_ONLY
    settings.SIYU_EXPORT_DIR = tmp_path / "exports"
    wecom, _others, _tag = _people(org)
    job = export_services.start_export(scope=scope_for_staff(org.hq), actor=org.hq.user, kind="customers",
                                       file_format="csv", filters={"channel": "wecom"})
    ExportJob.objects.filter(pk=job.pk).update(attempts=1)  # how requeue_lost_exports leaves a run it put back
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    _sign_in(page, live_server.url, "/exports/")
    badge = page.locator(f'#export-jobs tr[data-export-id="{job.pk}"] [data-retrying]')
    expect(badge).to_have_text("重试中（第 2 次）")
    box = badge.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 375  # on screen at phone width
    assert export_services.run_export(job_id=job.pk) == "done"  # the next worker's step
    row = page.locator(f'#export-jobs tr[data-export-id="{job.pk}"]')
    expect(row).to_have_attribute("data-status", "done", timeout=10000)  # the list polls and updates itself
    expect(row.locator("[data-retrying]")).to_have_count(0)
    expect(row).to_contain_text(f"{len(wecom)} 行")
    context.close()
