"""Issue 29 in Chromium at 375 px: HQ edits a channel code's auto-pull routes with the searchable pickers (a group
code picker registered by the WeCom app, tags), saves, and the code's page lists the routes in the order given;
the page never scrolls sideways."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.models import ChannelCode, GroupCode, GroupRoute
from tests.browser.test_channel_code_flow import account, wecom_sim  # noqa: F401 - fixtures
from tests.conftest import Org
from tests.factories import TagFactory, TagGroupFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_hq_sets_two_auto_pull_routes_with_pickers_on_a_phone(
    browser: Any, live_server: Any, org: Org, account: ChannelAccount,  # noqa: F811
) -> None:
    ent = org.enterprise
    vip, general = (GroupCode.objects.create(enterprise=ent, account=account, name=name, state=state, cap=200,
                                             status="active", config_id=f"gcfg-{state}",
                                             qr_code=f"https://wecom.example/{state}")
                    for name, state in (("VIP福利群", "vip"), ("新客福利群", "new")))
    tag = TagFactory.create(group=TagGroupFactory.create(enterprise=ent, name="等级"), name="VIP会员")
    code = ChannelCode.objects.create(enterprise=ent, account=account, name="门店海报", state="poster",
                                      config_id="cfg-poster", status="active")

    base = live_server.url
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login/?next=/channels/wecom/codes/{code.pk}/group-routes/")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/channels/wecom/codes/{code.pk}/group-routes/")

    page.fill("#picker-routes-0-group_code input.picker-q", "VIP")
    page.click(f'#picker-routes-0-group_code [data-pick="{vip.pk}"]')
    page.fill("#picker-routes-0-tag input.picker-q", "VIP")
    page.click(f'#picker-routes-0-tag [data-pick="{tag.pk}"]')
    page.fill("#picker-routes-1-group_code input.picker-q", "新客")
    page.click(f'#picker-routes-1-group_code [data-pick="{general.pk}"]')
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.click("#routes-form button[type=submit]")

    page.wait_for_url(f"{base}/channels/wecom/codes/{code.pk}/")
    expect(page.locator("#auto-pull li")).to_have_count(2)
    expect(page.locator("#auto-pull li").first).to_contain_text("VIP会员")
    expect(page.locator("#auto-pull li").nth(1)).to_contain_text("新客福利群")
    assert list(GroupRoute.objects.filter(channel_code=code).order_by("sort")
                .values_list("group_code_id", "tag_id")) == [(vip.pk, tag.pk), (general.pk, None)]
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    context.close()
