"""A campaign in Chromium at 375 px, in Chinese: an HQ operator creates it with the console's form (a pasted list of
phones, SMS), plans it and sees the plan waterfall chart, launches it; the sender runs (the worker's function); the
simulator's SMS provider received one message per recipient (its own inbox, not Siyu's rows) and the page shows them
sent. Screenshots under var/screenshots/campaigns/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from simulator.server import SimulatorServer
from simulator.state import Simulator, reset
from siyu.messaging import services
from siyu.messaging.models import Campaign
from siyu.org.scope import Scope
from tests.conftest import Org
from tests.messaging.helpers import make_customer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "campaigns"


@pytest.fixture
def sms_sim(settings: Any) -> Iterator[Simulator]:
    state = reset()
    with SimulatorServer(port=0, simulator=state) as server:
        settings.SIYU_SMS_BASE_URL = server.base_url + "/sms"
        yield state


def test_an_operator_creates_plans_and_launches_a_campaign_that_reaches_the_simulator(
    browser: Any, live_server: Any, org: Org, sms_sim: Simulator,
) -> None:
    # real time in this test: no quiet hours, so the plan's rows are due now whatever the hour in Shanghai
    services.set_policy(scope=Scope.hq(org.enterprise.pk), values={"quiet_start_hour": 0, "quiet_end_hour": 0})
    people = [make_customer(org, name=name, phone=True, sms_consent=True) for name in ("王芳", "李雷", "韩梅梅")]
    silent = make_customer(org, name="未同意", phone=True)  # no SMS consent: excluded in the plan
    SHOTS.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login/?next=/campaigns/")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/campaigns/")
    form = page.locator("#campaign-form")
    form.locator("input[name=name]").fill("周末上新")
    form.locator("select[name=audience_kind]").select_option("list")
    form.locator("textarea[name=customer_list]").fill("\n".join(p.phone for p in [*people, silent]))
    form.locator("select[name=channel_1]").select_option("sms")
    form.locator("select[name=channel_2]").select_option("")
    form.locator("select[name=channel_3]").select_option("")
    form.locator("textarea[name=text_sms]").fill("{name}，周末上新")
    form.locator("input[name=sms_sign]").fill("品牌")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/campaigns/\d+/$"))
    campaign = Campaign.objects.get(enterprise=org.enterprise)
    expect(page.locator("h1")).to_have_text("周末上新")

    page.locator("#plan-btn").click()
    expect(page.locator("#waterfall canvas")).to_have_count(1)
    expect(page.locator("#plan-rows")).to_contain_text("4")
    page.screenshot(path=str(SHOTS / "plan-375.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1  # nothing wider than the phone

    page.locator("#launch-btn").click()
    expect(page.locator("#launch-btn")).to_have_count(0)
    assert services.send_due() == 3
    for person in people:
        assert sms_sim.sms.messages(person.phone) == [f"【品牌】{person.name}，周末上新"]
    assert sms_sim.sms.messages(silent.phone) == []
    page.reload()
    expect(page.locator("#p-sent")).to_have_text("3")
    page.screenshot(path=str(SHOTS / "sent-375.png"), full_page=True)
    campaign.refresh_from_db()
    assert campaign.status == "done"
    context.close()
