"""Issue 3 in Chromium: an HQ operator creates a channel code (渠道活码) in the console, sees zero on its stats page;
a customer opens the printed landing link, scans and adds the staff member (the simulator posts the real signed and
encrypted callback to the live server); the stats page then shows 1 scan, 1 add, net 1, and the new customer is in
the customer list with the code's auto tag."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from simulator.server import SimulatorServer
from simulator.wecom import WecomPlatform, make_app
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.wecom.models import ChannelCode
from siyu.customers import services as customer_services
from siyu.customers.models import Identity
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, IMMEDIATE, SECRET, TOKEN
from tests.conftest import Org

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def wecom_sim() -> Iterator[tuple[WecomPlatform, SimulatorServer]]:
    platform = WecomPlatform(seed=11)
    with SimulatorServer(port=0, mounts={"/wecom": make_app(platform)}) as server:
        yield platform, server


@pytest.fixture
def account(org: Org, live_server: Any, settings: Any,
            wecom_sim: tuple[WecomPlatform, SimulatorServer]) -> ChannelAccount:
    """Siyu's WeCom app points at the simulator; the simulator's callbacks go to the live server."""
    settings.TASKS = IMMEDIATE
    platform, server = wecom_sim
    created = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="Browser WeCom", app_id=CORP_ID,
        agent_id="1000002", secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY,
        base_url=f"{server.base_url}/wecom",
    )
    platform.add_corp(corp_id=CORP_ID, secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, agent_id="1000002",
                      callback_url=f"{live_server.url}/channels/wecom/callback/{created.pk}/")
    for staff in (org.n1_staff, org.n2_staff, org.hq):
        platform.add_member(CORP_ID, staff.wecom_userid, staff.name)
    return created


def _kpi(page: Page, name: str) -> int:
    text = page.locator(f'#code-kpis [data-kpi="{name}"]').inner_text()
    match = re.search(r"([\d,]+)\s*$", text)
    assert match, (name, text)
    return int(match.group(1).replace(",", ""))


def test_create_a_code_scan_it_and_see_stats_and_the_tagged_customer(
    browser: Any, live_server: Any, org: Org, account: ChannelAccount,
    wecom_sim: tuple[WecomPlatform, SimulatorServer],
) -> None:
    platform, server = wecom_sim
    group = customer_services.create_tag_group(enterprise_id=org.enterprise.pk, name="来源")
    poster_tag = customer_services.create_tag(group=group, name="北京海报")
    customer_services.create_tag(group=group, name="线上广告")

    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/?next=/channels/wecom/codes/new/")
    page.fill("input[name=username]", "hq")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/channels/wecom/codes/new/")

    page.select_option("#code-form select[name=account]", str(account.pk))
    page.fill("#code-form input[name=name]", "北京门店海报")
    page.fill("#picker-staff input.picker-q", org.n1_staff.name)
    page.click(f'#picker-staff [data-pick="{org.n1_staff.pk}"]')
    page.select_option("#code-form select[name=assign_mode]", "all")
    page.fill("#picker-tags input.picker-q", "北京")
    page.click(f'#picker-tags [data-pick="{poster_tag.pk}"]')
    page.fill("#code-form input[name=state]", "bj_poster_b")
    page.fill("#code-form textarea[name=welcome_text]", "{name}，欢迎光临")
    page.click("#code-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/channels/wecom/codes/\d+/$"))

    code = ChannelCode.objects.get()
    assert page.url == f"{base}/channels/wecom/codes/{code.pk}/"
    assert (code.name, code.state) == ("北京门店海报", "bj_poster_b")
    assert code.config_id in platform.corps[CORP_ID].contact_ways  # the contact way exists on the platform
    expect(page.locator("h1")).to_contain_text("北京门店海报")
    assert (_kpi(page, "scans"), _kpi(page, "adds"), _kpi(page, "net")) == (0, 0, 0)

    # The customer opens the printed link on a phone (a scan), then scans the QR and adds the staff member.
    phone = browser.new_context(viewport={"width": 375, "height": 812})
    landing = phone.new_page()
    landing.goto(f"{base}/channels/wecom/qr/{code.config_id}/")
    expect(landing.locator("h1")).to_have_text("北京门店海报")
    phone.close()
    scanned = httpx.post(f"{server.base_url}/wecom/_sim/scan", json={"corp_id": CORP_ID, "config_id": code.config_id},
                         timeout=10)
    assert scanned.status_code == 200, scanned.text
    body = scanned.json()
    assert (body["userid"], body["delivered"]) == ("n1_staff", [200])

    page.reload()
    assert (_kpi(page, "scans"), _kpi(page, "adds"), _kpi(page, "deletes"), _kpi(page, "net")) == (1, 1, 0, 1)

    customer = Identity.objects.get(kind="wecom_external_userid", value=body["external_userid"]).customer
    page.goto(f"{base}/customers/")
    rows = page.locator("#customer-table tbody tr")
    expect(rows).to_have_count(1)
    row = page.locator(f'tr[data-customer-id="{customer.pk}"]')
    expect(row).to_contain_text(customer.name)
    expect(row.locator(".badge", has_text="北京海报")).to_have_count(1)
    expect(row).not_to_contain_text("线上广告")
    page.select_option("#id_tag", str(poster_tag.pk))
    expect(page.locator(f'#customer-table tbody tr[data-customer-id="{customer.pk}"]')).to_have_count(1)
    context.close()
