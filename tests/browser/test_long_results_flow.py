"""Issue 26 in Chromium at 375 px, in Chinese: an inheritance of 120 customers shows its summary counts per result,
50 rows a page, the refusals filtered by a tap with their errcode's meaning in Chinese, and nothing wider than the
phone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind
from siyu.channels.wecom.models import TransferItem, TransferItemStatus, TransferJob
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, SECRET, TOKEN
from tests.conftest import Org
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_inheritance_results_on_a_phone(browser: Any, live_server: Any, org: Org) -> None:
    account = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="企微", app_id=CORP_ID, agent_id="1000002",
        secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, base_url="http://127.0.0.1:9/wecom",
    )
    job = TransferJob.objects.create(enterprise=org.enterprise, account=account, kind="in_service",
                                     handover=org.n1_staff, takeover=org.n2_staff, status="waiting")
    outcomes = [(TransferItemStatus.SUCCEEDED, None)] * 110 + [(TransferItemStatus.REJECTED, 84061)] * 7 \
        + [(TransferItemStatus.REFUSED, None)] * 3
    TransferItem.objects.bulk_create([
        TransferItem(job=job, customer=CustomerFactory.create(enterprise=org.enterprise, name=f"顾客{i:03d}"),
                     external_userid=f"wm{i:03d}", status=status, errcode=errcode)
        for i, (status, errcode) in enumerate(outcomes)
    ])

    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    url = f"/channels/wecom/transfers/{job.pk}/"
    page.goto(f"{live_server.url}/login/?next={url}")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{url}")

    summary = page.locator("#transfer-summary")
    expect(summary.locator('[data-count="all"]')).to_have_text("120")
    expect(summary.locator('[data-count="succeeded"]')).to_have_text("110")
    expect(summary.locator('[data-count="rejected"]')).to_have_text("7")
    expect(page.locator("#transfer-items tbody tr")).to_have_count(50)
    expect(page.locator(".pager")).to_contain_text("第 1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    page.locator(".pager a[rel=next]").click()
    expect(page.locator("#transfer-items tbody tr")).to_have_count(50)
    page.locator(".pager a[rel=next]").click()
    expect(page.locator("#transfer-items tbody tr")).to_have_count(20)

    summary.locator("a", has=page.locator('[data-count="rejected"]')).click()
    rows = page.locator("#transfer-items tbody tr")
    expect(rows).to_have_count(7)
    expect(rows.first).to_contain_text("该员工与此客户已无联系（错误码 84061）")
    assert rows.first.locator("text=该员工与此客户已无联系").is_visible()  # on the phone, not in a hidden column
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    context.close()
