"""Journeys and supervision in Chromium at 375 px, in Chinese. HQ builds a journey in the step-list builder (entry:
a customer added staff on WeCom; step 1 adds the tag 新客; step 2 exits), saves and activates it. Two customers scan
store staff n1's contact-me code on the simulated WeCom; its callbacks reach Siyu, the journey tick runs, and the
journey page's counts move from 0 to 2. HQ then assigns n1 a "send material" task for the customers with that tag
(the page form); the supervision page shows n1 at 0 % until the simulator confirms n1's mass send, the poll and the
sync job run, and then 100 %. Screenshots under var/screenshots/journeys/."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from simulator.wecom import ContactWayState
from siyu.automation import services, staff_tasks
from siyu.automation.models import Journey, StaffTask
from siyu.channels.wecom import mass_sends
from siyu.channels.wecom.models import ChannelCode, MassSendSender
from siyu.core.timeutil import SHANGHAI
from siyu.customers import services as customer_services
from tests.channels.wecom import conftest as wecom_fixtures
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "journeys"
# the WeCom tests' fixtures: the simulator over HTTP, the account, its members, immediate tasks
platform, sim_server = wecom_fixtures.platform, wecom_fixtures.sim_server
immediate_tasks, wecom = wecom_fixtures.immediate_tasks, wecom_fixtures.wecom


def _cell(page: Any, row: str, column: int) -> Any:
    return page.locator(row).locator("td").nth(column)


def test_hq_builds_a_journey_sees_its_counts_move_and_a_confirmed_send_lift_the_execution_rate(
    browser: Any, live_server: Any, wecom: Wecom,
) -> None:
    org = wecom.org
    group = customer_services.create_tag_group(enterprise_id=org.enterprise.pk, name="旅程")
    tag = customer_services.create_tag(group=group, name="新客")
    ChannelCode.objects.create(enterprise=org.enterprise, account=wecom.account, name="n1", state="s-n1")
    wecom.platform.corps[CORP_ID].contact_ways["cfg-n1"] = ContactWayState("cfg-n1", 2, 2, ["n1_staff"], "s-n1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login/?next=/journeys/new/")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/journeys/new/")

    # the builder starts with a wait and a task: drop the wait, make the action "add a tag", add an exit (htmx swaps)
    page.fill("#b-name", "新客打标")
    expect(page.locator("#b-entry-event")).to_have_value("wecom_contact_added")
    expect(page.locator("#b-head")).to_contain_text("进入条件")  # the journey's word, not finance's 凭证
    expect(page.locator("input[name=n-1-title]")).to_have_value("打个招呼")  # the starter task speaks Chinese
    page.locator("#node-0 button[value='remove:0']").click()
    expect(page.locator("#node-1")).to_have_count(0)
    expect(page.locator("#node-0")).to_have_attribute("data-kind", "action")
    page.select_option("select[name=n-0-action]", "add_tag")
    page.fill("input[name=n-0-tag_id]", str(tag.pk))
    page.locator("#add-exit").click()
    expect(page.locator("#node-1")).to_have_attribute("data-kind", "exit")
    expect(page.locator("input[name=n-0-tag_id]")).to_have_value(str(tag.pk))  # the edit survived the round trip
    page.screenshot(path=str(SHOTS / "builder-375.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    page.locator("#b-save").click()
    page.wait_for_url(f"{base}/journeys/*/")
    expect(page.locator("h1")).to_have_text("新客打标")
    page.locator("button[name=status][value=live]").click()
    expect(page.locator("button[name=status][value=paused]")).to_have_count(1)
    assert Journey.objects.get(enterprise=org.enterprise).status == "live"
    expect(page.locator("#c-entered")).to_have_text("0")

    # two customers add n1 on WeCom (the simulator's callbacks), the worker's journey tick runs
    externals = [wecom.platform.scan(CORP_ID, "cfg-n1").external_userid for _ in range(2)]
    wecom.deliver()
    services.tick()
    page.reload()
    expect(page.locator("#c-entered")).to_have_text("2")
    expect(page.locator("#c-inside")).to_have_text("0")
    expect(_cell(page, "#step-rows tbody tr >> nth=0", 3)).to_have_text("2")  # step 1 (add the tag): passed by 2
    expect(_cell(page, "#step-rows tbody tr >> nth=0", 2)).to_have_text("0")  # nobody waits there
    expect(_cell(page, "#step-rows tbody tr >> nth=0", 1)).to_have_text("操作 · 打标签")  # no leftover task title
    expect(_cell(page, "#step-rows tbody tr >> nth=1", 3)).to_have_text("2")  # step 2 (exit): passed by 2
    expect(page.locator("#funnel-chart canvas")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "journey-counts-375.png"), full_page=True)

    # HQ assigns n1 a send of material to the customers the journey tagged, through the WeCom account
    page.goto(f"{base}/journeys/tasks/all/")
    form = page.locator("#assign-form")
    form.locator("#a-kind").select_option("send_material")
    form.locator("#a-title").fill("新品推荐")
    due = (timezone.now() + timedelta(days=1)).astimezone(SHANGHAI)
    form.locator("#a-due").fill(due.strftime("%Y-%m-%dT%H:%M"))
    form.locator("textarea[name=instructions]").fill("新品上市，欢迎到店")
    form.locator("#a-target").select_option("staff")
    form.locator("#a-staff").select_option(str(org.n1_staff.pk))
    form.locator("#a-tag").select_option(str(tag.pk))
    form.locator("#a-account").select_option(str(wecom.account.pk))
    form.locator("#a-submit").click()
    page.wait_for_url(f"{base}/journeys/tasks/all/")
    task = StaffTask.objects.get(kind="send_material")
    sender = MassSendSender.objects.get(mass_send_id=task.mass_send_id)
    message = wecom.platform.corps[CORP_ID].messages[sender.msgid]
    assert sorted(message.recipients) == sorted(externals)  # the journey's tag chose the recipients

    staff_row = f".exec-table[data-by='3'] tr[data-name='{org.n1_staff.name}']"
    page.goto(f"{base}/journeys/supervision/")
    expect(page.locator(f"{staff_row} td.rate")).to_have_text("0%")
    expect(page.locator("#t-open")).to_have_text("1")
    expect(page.locator("#sup-totals")).to_contain_text("待办")  # a task's "Open", not a store's 营业中

    # n1 confirms the mass send in the WeCom client; the poll learns it and the periodic sync marks the task done
    wecom.platform.confirm_mass_send(CORP_ID, sender.msgid)
    mass_sends.poll_mass_send(mass_send_id=int(task.mass_send_id or 0))
    assert staff_tasks.sync_confirmed_sends() == 1
    page.reload()
    expect(page.locator(f"{staff_row} td.rate")).to_have_text("100%")
    expect(page.locator(f"{staff_row} td").nth(2)).to_have_text("1")  # done on time
    expect(page.locator("#t-rate")).to_have_text("100%")
    expect(page.locator("#t-open")).to_have_text("0")
    page.screenshot(path=str(SHOTS / "supervision-375.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    context.close()
