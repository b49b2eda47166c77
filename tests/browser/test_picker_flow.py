"""Issue 26 in Chromium at 375 px, in Chinese: the channel-code form of a chain with 85 staff and 30 tags stays a
phone-sized form (searchable pickers, not 115 checkboxes), a bad submit shows its error beside the field, and the
chosen staff and tags (searched, picked, one removed) are what the created code carries."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from simulator.server import SimulatorServer
from simulator.wecom import WecomPlatform, make_app
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind
from siyu.channels.wecom.models import ChannelCode
from siyu.customers import services as customer_services
from siyu.org.models import Role
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, IMMEDIATE, SECRET, TOKEN
from tests.conftest import Org
from tests.factories import StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_channel_code_form_with_85_staff_is_a_picker_and_shows_errors_beside_fields(
    browser: Any, live_server: Any, org: Org, settings: Any,
) -> None:
    settings.TASKS = IMMEDIATE
    group = customer_services.create_tag_group(enterprise_id=org.enterprise.pk, name="来源")
    tags = [customer_services.create_tag(group=group, name=f"渠道{i:02d}") for i in range(30)]
    staff = [StaffFactory.create(enterprise=org.enterprise, store=org.store_n1, name=f"导购{i:02d}",
                                 wecom_userid=f"guide{i:02d}", role=Role.STORE_STAFF) for i in range(80)]
    platform = WecomPlatform(seed=26)
    server = SimulatorServer(port=0, mounts={"/wecom": make_app(platform)})
    server.__enter__()
    account = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="企微", app_id=CORP_ID, agent_id="1000002",
        secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, base_url=f"{server.base_url}/wecom",
    )
    platform.add_corp(corp_id=CORP_ID, secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, agent_id="1000002",
                      callback_url=f"{live_server.url}/channels/wecom/callback/{account.pk}/")
    for member in staff:
        platform.add_member(CORP_ID, member.wecom_userid, member.name)
    try:
        _walk(browser, live_server, account.pk, staff, tags)
    finally:
        server.__exit__(None, None, None)


def _walk(browser: Any, live_server: Any, account_id: int, staff: list[Any], tags: list[Any]) -> None:

    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/login/?next=/channels/wecom/codes/new/")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/channels/wecom/codes/new/")
    expect(page.locator("h1")).to_have_text("新建渠道活码")

    form_height = page.locator("#code-form").bounding_box()["height"]
    assert form_height < 2000, form_height  # 85 staff and 30 tags as checkboxes made it ~5,900 px
    assert page.locator("#code-form input[type=checkbox]").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # Submit with no staff and no store: the service refuses, and the error sits on the staff field.
    page.select_option("#code-form select[name=account]", str(account_id))
    page.fill("#code-form input[name=name]", "门店海报")
    page.click("#code-form button[type=submit]")
    error = page.locator("#field-staff .red")
    expect(error).to_have_count(1)
    expect(page.locator("#form-errors a[href='#field-staff']")).to_have_count(1)
    staff_box = page.locator("#field-staff").bounding_box()
    error_box = error.bounding_box()
    assert staff_box and error_box and staff_box["y"] <= error_box["y"] <= staff_box["y"] + staff_box["height"]

    # Search, page, pick two staff, remove one; pick a tag.
    page.fill("#picker-staff input.picker-q", "导购")
    expect(page.locator("#picker-staff .pick-meta")).to_contain_text("80")
    expect(page.locator("#picker-staff [data-pick]")).to_have_count(20)
    page.click("#picker-staff .pick-more")
    expect(page.locator("#picker-staff [data-pick]")).to_have_count(40)
    page.click(f'#picker-staff [data-pick="{staff[33].pk}"]')
    page.fill("#picker-staff input.picker-q", "导购07")
    page.click(f'#picker-staff [data-pick="{staff[7].pk}"]')
    page.fill("#picker-staff input.picker-q", "导购12")
    page.click(f'#picker-staff [data-pick="{staff[12].pk}"]')
    expect(page.locator("#picker-staff [data-chip]")).to_have_count(3)
    page.click(f'#picker-staff [data-chip="{staff[12].pk}"] [data-unpick]')
    expect(page.locator("#picker-staff [data-chip]")).to_have_count(2)
    page.fill("#picker-tags input.picker-q", "渠道29")
    page.click(f'#picker-tags [data-pick="{tags[29].pk}"]')
    page.select_option("#code-form select[name=assign_mode]", "all")
    page.click("#code-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/channels/wecom/codes/\d+/$"), timeout=15000)

    code = ChannelCode.objects.get()
    assert set(code.members.values_list("staff_id", flat=True)) == {staff[33].pk, staff[7].pk}
    assert list(code.tags.values_list("pk", flat=True)) == [tags[29].pk]
    context.close()
