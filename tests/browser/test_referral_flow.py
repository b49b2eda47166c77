"""Task fission (任务宝) in Chromium at 375 px, in Chinese: an HQ operator creates the campaign on /referrals/ with the
channel code its posters lead to; a customer joins and gets their own contact way (state = their token); the simulator
plays two people scanning that code and adding staff (real signed callbacks to the live server); one of them joins and
brings a third; after the 24 hours the campaign page shows 3 conversions, K-factor 2.00 for generation 0 and 1.00 for
generation 1, and the invitation tree."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from simulator.server import SimulatorServer
from simulator.wecom import WecomPlatform
from siyu.channels.models import ChannelAccount
from siyu.channels.wecom import channel_codes
from siyu.customers.models import Identity
from siyu.org.scope import scope_for_staff
from siyu.referrals import queries, services
from siyu.referrals.models import Campaign, Participant
from tests.browser.test_channel_code_flow import account, wecom_sim  # noqa: F401 - fixtures
from tests.channels.wecom.conftest import CORP_ID
from tests.conftest import Org
from tests.factories import CustomerFactory
from tests.loyalty.helpers import setup_program
from tests.orders.helpers import build_shop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _scan(server: SimulatorServer, participant: Participant) -> Any:
    config_id = queries.contact_way_config(participant)
    assert config_id, "the participant's contact way was made on the platform"
    answer = httpx.post(f"{server.base_url}/wecom/_sim/scan", json={"corp_id": CORP_ID, "config_id": config_id},
                        timeout=60)
    assert answer.status_code == 200 and answer.json()["delivered"] == [200], answer.text
    return Identity.objects.get(kind="wecom_external_userid", value=answer.json()["external_userid"]).customer


def test_an_operator_runs_a_task_fission_and_sees_conversions_k_factor_and_tree(
    browser: Any, live_server: Any, org: Org, account: ChannelAccount,  # noqa: F811
    wecom_sim: tuple[WecomPlatform, SimulatorServer],  # noqa: F811
) -> None:
    _platform, server = wecom_sim
    setup_program(build_shop(org), window=0)
    code = channel_codes.create_channel_code(scope=scope_for_staff(org.hq), account_id=account.pk, name="裂变海报码",
                                             staff_ids=[org.n1_staff.pk], state="fission_base")
    base = live_server.url
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login/?next=/referrals/")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/referrals/")
    now = timezone.localtime()
    form = page.locator("#campaign-form")
    form.locator("select[name=kind]").select_option("task")
    form.locator("input[name=name]").fill("两人成行")
    form.locator("input[name=starts_at]").fill((now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    form.locator("input[name=ends_at]").fill((now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"))
    form.locator("select[name=reward_kind]").select_option("points")
    form.locator("input[name=reward_points]").fill("200")
    form.locator("input[name=target_count]").fill("2")
    form.locator("input[name=window_days]").fill("7")
    form.locator("select[name=channel_code_id]").select_option(str(code.pk))
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/referrals/\d+/$"))
    campaign = Campaign.objects.get()
    expect(page.locator("h1")).to_have_text("两人成行")

    seed = CustomerFactory.create(enterprise=org.enterprise, name="种子用户")
    first = services.join_campaign(enterprise_id=org.enterprise.pk, campaign_id=campaign.pk, customer_id=seed.pk)
    friends = [_scan(server, first), _scan(server, first)]
    services.scan(enterprise_id=org.enterprise.pk, now=timezone.now() + timedelta(hours=25))
    second = services.join_campaign(enterprise_id=org.enterprise.pk, campaign_id=campaign.pk,
                                    customer_id=friends[0].pk)
    assert (second.generation, second.invited_by_id) == (1, first.pk)
    _scan(server, second)
    services.scan(enterprise_id=org.enterprise.pk, now=timezone.now() + timedelta(hours=50))

    page.reload()
    expect(page.locator("#r-conversions")).to_have_text("3")
    expect(page.locator("#r-cost")).to_have_text("200")  # the seed reached 2 of 2: 200 points at 1 fen
    rows = page.locator("#k-rows tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("2.00")
    expect(rows.nth(1)).to_contain_text("1.00")
    expect(page.locator("#tree-chart canvas")).to_have_count(1)
    expect(page.locator("#tree-rows tbody tr")).to_have_count(2)
    expect(page.locator("#tree-rows")).to_contain_text("种子用户")
    expect(page.get_by_text("各代裂变系数")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1  # nothing wider than the phone
    context.close()
