"""Issue 18's "done when", in Chromium, from an empty database: `siyu setup`, sign in, connect a WeCom app and an
Official Account whose platform is the simulator (the Token and EncodingAESKey the form generated are "pasted" into
the simulated back office, which then verifies the callback URL) and check each connection (green); import an
organisation sheet; import 1,000 members from a sheet with 5 bad rows (the report names each row); see the members
in the customer list; a store's staff member signs in with the password HQ set and sees only their store's members.
The sheets are made here with openpyxl, as Excel would save them (phones and dates as numbers where Excel puts
numbers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from openpyxl import Workbook
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
STAFF_PASSWORD = "store-staff-password-1"  # noqa: S105
MEMBERS = 1000
EXCEL_EPOCH = date(1899, 12, 30)
# sheet row (header = 1) -> (the column the report names, what is wrong)
BAD_ROWS = {
    40: ("phone", "1.38001E+10"),  # Excel shortened the phone: digits lost
    200: ("store_code", "s99"),  # no such store
    411: ("phone", "duplicate"),  # the phone of the row before
    650: ("birthday", "2024-13-45"),  # not a date
    999: ("phone", "12345"),  # not a mobile
}


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


def _org_sheet(path: Path) -> Path:
    """Two regions, two stores, a staff member in each store (the type column, English headers, one table)."""
    book = Workbook()
    ws = book.active
    ws.append(["type", "code", "name", "region_code", "city", "address", "opening_state", "userid", "mobile", "role",
               "store_code"])
    ws.append(["区域", "east", "华东区", None, None, None, None, None, None, None, None])
    ws.append(["区域", "south", "华南区", None, None, None, None, None, None, None, None])
    ws.append(["门店", "s01", "上海南京西路店", "east", "上海", "南京西路1号", "营业中", None, None, None, None])
    ws.append(["门店", "s02", "广州天河店", "south", "广州", "天河路2号", "营业中", None, None, None, None])
    ws.append(["员工", None, "张三", None, None, None, None, "zhangsan", 13800000001, "店长", "s01"])
    ws.append(["员工", None, "李四", None, None, None, None, "lisi", 13800000002, "导购", "s02"])
    book.save(path)
    return path


def _phone(i: int) -> int:
    return 13900000000 + i


def _member_sheet(path: Path) -> tuple[Path, dict[str, int]]:
    """1,000 members as Excel keeps them: phones as numbers, birthdays as date serials; the 5 BAD_ROWS spoiled.
    Returns the file and how many valid members each store has."""
    book = Workbook()
    ws = book.active
    ws.append(["手机号", "姓名", "性别", "生日", "门店编码", "积分", "会员等级", "标签"])
    per_store = {"s01": 0, "s02": 0}
    for i in range(MEMBERS):
        row = i + 2
        store = "s01" if i % 3 else "s02"
        phone: Any = _phone(i)
        birthday: Any = (date(1980 + i % 20, 1 + i % 12, 1 + i % 28) - EXCEL_EPOCH).days  # a serial, as Excel has it
        bad = BAD_ROWS.get(row)
        if bad == ("phone", "1.38001E+10"):
            phone = "1.38001E+10"
        elif bad == ("store_code", "s99"):
            store = "s99"
        elif bad == ("phone", "duplicate"):
            phone = _phone(i - 1)
        elif bad == ("birthday", "2024-13-45"):
            birthday = "2024-13-45"
        elif bad == ("phone", "12345"):
            phone = 12345
        else:
            per_store[store] += 1
        ws.append([phone, f"会员{i}", "女" if i % 2 else "男", birthday, store, i % 500, "银卡", "老客"])
    book.save(path)
    return path, per_store


def _customer_total(page: Page) -> int:
    text = page.locator("#results .result-meta span").first.inner_text()
    return int("".join(ch for ch in text if ch.isdigit()))


def _callback_url(page: Page, account_row: str) -> str:
    return page.locator(f"{account_row} [data-copy]").first.get_attribute("data-copy") or ""


def test_empty_database_to_channels_org_members_and_a_store_login(
    browser: Any, live_server: Any, platforms: tuple[SimulatorServer, Simulator], tmp_path: Path
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
    signed_in = context.storage_state()
    phone = browser.new_context(viewport={"width": 375, "height": 812}, storage_state=signed_in)
    mobile = phone.new_page()
    mobile.goto(f"{base}/setup/accounts/")
    expect(mobile.locator("#wecom .acct")).to_have_count(1)
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 375
    phone.close()

    # The organisation from a sheet: checked row by row, then applied
    page.goto(f"{base}/org/import/")
    page.set_input_files("#sheet-form input[type=file]", str(_org_sheet(tmp_path / "组织架构.xlsx")))
    page.click("#sheet-form button[type=submit]")
    expect(page.locator("#n-create")).to_have_text("6")
    expect(page.locator("#n-errors")).to_have_text("0")
    page.click("#apply-sheet")
    page.goto(f"{base}/org/stores/")
    expect(page.get_by_text("上海南京西路店")).to_be_visible()
    expect(page.get_by_text("广州天河店")).to_be_visible()

    # 1,000 members with 5 bad rows: upload, mapping suggested from the headers, dry run, import in the background
    sheet, per_store = _member_sheet(tmp_path / "会员.xlsx")
    page.goto(f"{base}/member-imports/")
    page.set_input_files("#member-upload input[type=file]", str(sheet))
    page.click("#member-upload button")
    page.wait_for_url(f"{base}/member-imports/*/")
    expect(page.locator("#preview-table tbody tr")).to_have_count(10)
    for key, header in (("phone", "手机号"), ("birthday", "生日"), ("store_code", "门店编码"), ("tags", "标签")):
        assert page.input_value(f"#mapping-form select[name=map_{key}]") == header
    page.click("#dry-run")
    expect(page.locator("#error-table tbody tr")).to_have_count(len(BAD_ROWS))
    page.click("#start-import")
    expect(page.locator("#member-import-progress .badge")).to_have_attribute("data-status", "queued")
    call_command("db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", verbosity=0)  # the worker
    expect(page.locator("#member-import-progress .badge")).to_have_attribute("data-status", "done")  # htmx polls
    valid = MEMBERS - len(BAD_ROWS)
    page.reload()
    expect(page.locator("[data-kpi=created]")).to_contain_text(f"{valid:,}")
    expect(page.locator("[data-kpi=errors]")).to_contain_text(str(len(BAD_ROWS)))
    named = {int(r.get_attribute("data-row") or 0) for r in page.locator("#error-table tbody tr").all()}
    assert named == set(BAD_ROWS)
    for bad_row, (column, _what) in BAD_ROWS.items():
        expect(page.locator(f"#error-table tr[data-row='{bad_row}'] td").nth(1)).to_have_text(
            {"phone": "手机号", "store_code": "门店编码", "birthday": "生日"}[column])

    # The members are in the customer list
    page.goto(f"{base}/customers/")
    assert _customer_total(page) == valid
    expect(page.locator("#customer-table tbody tr").first).to_be_visible()

    # HQ gives the store manager (from the sheet) a password; they see only their store's members (a guide sees
    # only the customers they follow)
    page.goto(f"{base}/org/staff/")
    page.get_by_role("link", name="张三").click()
    page.fill("#password-form input[name=username]", "zhangsan")
    page.fill("#password-form input[name=password]", STAFF_PASSWORD)
    page.click("#password-form button[type=submit]")
    expect(page.locator(".msg.success, .msg")).to_be_visible()
    context.close()
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    clerk = staff.new_page()
    clerk.goto(f"{base}/login/")
    clerk.fill("input[name=username]", "zhangsan")
    clerk.fill("input[name=password]", STAFF_PASSWORD)
    clerk.click("button[type=submit]")
    clerk.wait_for_url(lambda url: "/login/" not in url)
    clerk.goto(f"{base}/customers/")
    assert _customer_total(clerk) == per_store["s01"] != valid
    home_stores = clerk.locator("#customer-table tbody tr td[data-col=home-store]")
    stores_shown = {t.strip() for t in home_stores.all_inner_texts()}
    assert stores_shown == {"上海南京西路店"}
    assert clerk.goto(f"{base}/member-imports/").status == 403  # importing members is HQ's
    staff.close()
