"""From an empty database to connected, checked channels, in Chromium: `siyu setup`, sign in, connect a WeCom app and
an Official Account whose platform is the simulator (the Token and EncodingAESKey the form generated are "pasted" into
the simulated back office, which then verifies the callback URL), and check each connection: green."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from simulator import oa as oa_sim
from simulator import wecom as wecom_sim
from simulator.server import SimulatorServer
from simulator.state import Simulator, install
from siyu.org.models import Enterprise

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "first-day-password-1"  # noqa: S105
CORP_ID = "wwbrowsersetup0001"
CORP_SECRET = "browser-setup-wecom-secret-00000000000001"  # noqa: S105
OA_APP_ID = "wxbrowsersetup001"
OA_SECRET = "browser-setup-oa-secret-000000001"  # noqa: S105


@pytest.fixture
def platforms() -> Iterator[tuple[SimulatorServer, Simulator]]:
    state = install(Simulator(wecom_platform=wecom_sim.WecomPlatform(seed=5)))
    with SimulatorServer(port=0, mounts=state.mounts()) as server:
        yield server, state


def _connect(page: Page, base: str, kind: str, fields: dict[str, str], selects: dict[str, str]) -> tuple[str, str]:
    """Fill the new-account form; returns the Token and EncodingAESKey it generated (to paste into the platform)."""
    page.goto(f"{base}/setup/accounts/new/{kind}/")
    token = page.input_value("#id_token")
    aes_key = page.input_value("#id_encoding_aes_key")
    assert len(token) == 32 and len(aes_key) == 43
    page.click("#field-token [data-generate]")  # the Generate button makes another valid pair in the browser
    page.click("#field-encoding_aes_key [data-generate]")
    token, aes_key = page.input_value("#id_token"), page.input_value("#id_encoding_aes_key")
    assert token.isalnum() and len(token) == 32 and len(aes_key) == 43 and "=" not in aes_key
    for name, value in fields.items():
        page.fill(f"#id_{name}", value)
    for name, value in selects.items():
        page.select_option(f"#id_{name}", value)
    return token, aes_key


def _callback_url(page: Page, account_row: str) -> str:
    return page.locator(f"{account_row} [data-copy]").first.get_attribute("data-copy") or ""


def test_empty_database_to_green_channel_checks(
    browser: Any, live_server: Any, platforms: tuple[SimulatorServer, Simulator]
) -> None:
    server, state = platforms
    platform = state.wecom
    assert Enterprise.objects.count() == 0
    call_command("setup", "--no-input", "--enterprise-name", "某某品牌", "--admin-username", "boss",
                 "--admin-password", PASSWORD)
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.click("a[href='/setup/accounts/']")  # the nav's Channel accounts
    expect(page.locator("#wecom .empty")).to_be_visible()

    # WeCom: connect the app, paste the generated Token / EncodingAESKey into the (simulated) back office
    token, aes_key = _connect(page, base, "wecom", {
        "name": "门店企微", "app_id": CORP_ID, "agent_id": "1000002", "secret": CORP_SECRET,
        "base_url": f"{server.base_url}/wecom"}, {})
    page.click("#account-form button[type=submit]")
    page.wait_for_url(f"{base}/setup/accounts/#account-*")
    row = "#wecom .acct"
    url = _callback_url(page, row)
    assert url.startswith(f"{base}/channels/wecom/callback/")
    platform.add_corp(corp_id=CORP_ID, secret=CORP_SECRET, token=token, encoding_aes_key=aes_key, agent_id="1000002")
    platform.add_member(CORP_ID, "zhangsan", "张三")
    assert wecom_sim.verify_url(platform, CORP_ID, url)["verified"] is True
    page.click(f"{row} form button[type=submit]")  # Check connection
    expect(page.locator(f"{row} ul.probes")).to_have_attribute("data-ok", "true")
    expect(page.locator(f"{row} .verified")).to_be_visible()
    expect(page.locator(f"{row} .probe")).to_have_count(4)
    expect(page.locator(f"{row} .badge.red")).to_have_count(0)
    copy = page.locator(f"{row} [data-copy]").first
    copy.click()
    expect(copy).to_have_text("已复制")

    # Official Account in safe mode
    token, aes_key = _connect(page, base, "official_account", {
        "name": "品牌服务号", "app_id": OA_APP_ID, "secret": OA_SECRET, "base_url": f"{server.base_url}/oa"},
        {"account_type": "service", "callback_mode": "safe"})
    page.click("#account-form button[type=submit]")
    page.wait_for_url(f"{base}/setup/accounts/#account-*")
    oa_row = "#official-accounts .acct"
    sim_account = oa_sim.SimAccount(app_id=OA_APP_ID, secret=OA_SECRET, token=token, encoding_aes_key=aes_key)
    state.oa.register(sim_account)
    assert oa_sim.verify_url(sim_account, _callback_url(page, oa_row))["verified"] is True
    page.click(f"{oa_row} form button[type=submit]")
    expect(page.locator(f"{oa_row} ul.probes")).to_have_attribute("data-ok", "true")
    expect(page.locator(f"{oa_row} .verified")).to_be_visible()

    # The contacts API restricted by the corp's admin: the next check names 48009
    with platform.lock:
        wecom_sim._control_restrict(platform, {"corp_id": CORP_ID, "api": "contacts"})
    page.click(f"{row} form button[type=submit]")
    expect(page.locator(f"{row} ul.probes")).to_have_attribute("data-ok", "false")
    expect(page.locator(f"{row} .probe", has_text="48009")).to_be_visible()

    # Secrets are not on the page; the page fits a phone
    html = page.content()
    assert CORP_SECRET not in html and OA_SECRET not in html and token not in html and aes_key not in html
    state = context.storage_state()
    context.close()
    phone = browser.new_context(viewport={"width": 375, "height": 812}, storage_state=state)
    mobile = phone.new_page()
    mobile.goto(f"{base}/setup/accounts/")
    expect(mobile.locator("#wecom .acct")).to_have_count(1)
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 375
    phone.close()
