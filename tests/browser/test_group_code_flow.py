"""Issue 29 in Chromium: an HQ operator creates a group code (群活码) over three customer groups in the console with a
cap of 151 members (the owner and 150 customers); the simulator then plays 450 customers scanning the join way's QR
one after another, each join posted to the live server as a real signed and encrypted callback. The stats page shows
the roll-over (150 joins in each group, the third one current, all full, the "create a group" notice) and the
totals; the page is usable at 375 px, and so is the code's group schedules page."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from simulator.server import SimulatorServer
from simulator.wecom import WecomPlatform
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom.models import CustomerGroup, GroupCode, GroupCodeJoin
from tests.browser.test_channel_code_flow import account, wecom_sim  # noqa: F401 - fixtures
from tests.channels.wecom.conftest import CORP_ID
from tests.conftest import Org

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _kpi(page: Page, name: str) -> int:
    text = page.locator(f'#group-code-kpis [data-kpi="{name}"]').inner_text()
    match = re.search(r"([\d,]+)\s*$", text)
    assert match, (name, text)
    return int(match.group(1).replace(",", ""))


def _cell(page: Page, group: CustomerGroup, col: str) -> int:
    return int(page.locator(f'#group-code-groups tr[data-group-id="{group.pk}"] td[data-col="{col}"]').inner_text())


def _current(page: Page, group: CustomerGroup) -> Locator:
    return page.locator(f'#group-code-groups tr[data-group-id="{group.pk}"] [data-state="current"]')


def test_a_group_code_over_three_groups_rolls_over_through_450_joins(
    browser: Any, live_server: Any, org: Org, account: ChannelAccount,  # noqa: F811
    wecom_sim: tuple[WecomPlatform, SimulatorServer],  # noqa: F811
) -> None:
    platform, server = wecom_sim
    # The live server's first request loads the URLconf and templates: on a loaded machine it can outlast the
    # platform's 5 s callback timeout, so it is made before any callback.
    assert httpx.get(f"{live_server.url}/login/", timeout=120).status_code == 200
    chats = [platform.create_chat(CORP_ID, "n1_staff", name=f"双十二快闪{i}群") for i in (1, 2, 3)]
    assert platform.deliver() == [200, 200, 200]  # the groups reach Siyu through their create callbacks
    groups = [CustomerGroup.objects.get(chat_id=c.chat_id) for c in chats]

    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/?next=/channels/wecom/group-codes/new/")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/channels/wecom/group-codes/new/")

    page.select_option("#group-code-form select[name=account]", str(account.pk))
    page.fill("#group-code-form input[name=name]", "双十二快闪")
    for group in groups:
        page.check(f'#group-code-form input[name=groups][value="{group.pk}"]')
    page.fill("#group-code-form input[name=cap]", "300")  # above WeCom's 200: refused with its code
    page.fill("#group-code-form input[name=state]", "flash1212")
    page.click("#group-code-form button[type=submit]")
    expect(page.locator("#field-cap")).to_contain_text("cap_above_platform_limit")
    assert not GroupCode.objects.exists()

    page.fill("#group-code-form input[name=cap]", "151")
    page.click("#group-code-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/channels/wecom/group-codes/\d+/$"))
    code = GroupCode.objects.get()
    assert code.config_id in platform.corps[CORP_ID].join_ways
    expect(page.locator("h1")).to_contain_text("双十二快闪")
    assert (_kpi(page, "joins"), _kpi(page, "net")) == (0, 0)
    expect(_current(page, groups[0])).to_have_count(1)

    played = httpx.post(f"{server.base_url}/wecom/_sim/join_group",
                        json={"corp_id": CORP_ID, "config_id": code.config_id, "count": 450}, timeout=600)
    assert played.status_code == 200, played.text
    body = played.json()
    assert (body["refused"], body["failed_deliveries"]) == (0, [])
    # Siyu rolled the join way at 151 members, long before the platform's own 200.
    assert body["joined"] == {c.chat_id: 150 for c in chats}
    assert GroupCodeJoin.objects.filter(code=code).count() == 450

    page.reload()
    assert (_kpi(page, "joins"), _kpi(page, "quits"), _kpi(page, "net")) == (450, 0, 450)
    for group in groups:
        assert (_cell(page, group, "members"), _cell(page, group, "joins")) == (151, 150)
    expect(page.locator('#group-code-groups [data-state="full"]')).to_have_count(3)
    expect(_current(page, groups[2])).to_have_count(1)
    expect(page.locator("#group-code-notice")).to_be_visible()
    expect(page.locator("#group-code-chart canvas")).to_have_count(1)
    code.refresh_from_db()
    assert code.rolls == 2

    # The same page on a phone: no sideways scrolling.
    phone = browser.new_context(viewport={"width": 375, "height": 812})
    small = phone.new_page()
    small.goto(f"{base}/login/?next=/channels/wecom/group-codes/{code.pk}/")
    small.fill("input[name=username]", "hq")
    small.fill("input[name=password]", "pw-for-tests-1")
    small.click("button[type=submit]")
    small.wait_for_url(f"{base}/channels/wecom/group-codes/{code.pk}/")
    expect(small.locator("#group-code-kpis")).to_be_visible()
    assert small.evaluate("document.documentElement.scrollWidth") <= 375
    listing = small.goto(f"{base}/channels/wecom/group-codes/")
    assert listing is not None and listing.status == 200
    expect(small.locator(f'#group-code-table tr[data-code-id="{code.pk}"]')).to_contain_text("双十二快闪")

    # Group schedules on the phone: the first group takes joiners on weekdays only, the second gets its own cap.
    small.goto(f"{base}/channels/wecom/group-codes/{code.pk}/schedules/")
    assert small.evaluate("document.documentElement.scrollWidth") <= 375
    small.fill("#group-schedules-form input[name=groups-0-hours]", "1-5 09:00-18:00")
    small.fill("#group-schedules-form input[name=groups-1-cap]", "300")  # above WeCom's 200: refused on its row
    small.click("#group-schedules-form button[type=submit]")
    expect(small.locator("#group-schedule-1")).to_contain_text("cap_above_platform_limit")
    small.fill("#group-schedules-form input[name=groups-1-cap]", "180")
    small.click("#group-schedules-form button[type=submit]")
    small.wait_for_url(f"{base}/channels/wecom/group-codes/{code.pk}/")
    expect(small.locator(f'#group-code-groups tr[data-group-id="{groups[0].pk}"] td[data-col="hours"]')
           ).to_contain_text("1-5 09:00-18:00")
    expect(small.locator(f'#group-code-groups tr[data-group-id="{groups[1].pk}"] td[data-col="cap"]')
           ).to_have_text("180")
    phone.close()
    context.close()
