"""Issue 23 in Chromium: HQ uploads an image material and uses it in a script; a store staff member opens the chat
sidebar beside a chat with their customer at 375 px (the simulator plays the WeCom client's JS-SDK: agentConfig with
the signature checked, getContext, getCurExternalContact), finds the script by quick-reply search, sends it, and the
text (variables filled) and the image (uploaded as temporary media) arrive in the simulated chat."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from simulator.server import SimulatorServer
from simulator.wecom import WecomPlatform, make_app
from siyu.channels import services as channel_services
from siyu.channels.models import AccountKind, ChannelAccount
from siyu.content.models import ContentUse, Material, Script
from siyu.customers import services as customer_services
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, SECRET, TOKEN
from tests.conftest import Org
from tests.content.helpers import png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
EXTERNAL = "wmSidebarCustomer01"


@pytest.fixture
def wecom_sim() -> Iterator[tuple[WecomPlatform, SimulatorServer]]:
    cache.clear()  # tickets and media ids cached by an earlier test's simulator
    platform = WecomPlatform(seed=23)
    with SimulatorServer(port=0, mounts={"/wecom": make_app(platform)}) as server:
        yield platform, server


@pytest.fixture
def account(org: Org, settings: Any, tmp_path: Path,
            wecom_sim: tuple[WecomPlatform, SimulatorServer]) -> ChannelAccount:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    platform, server = wecom_sim
    created = channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="Sidebar WeCom", app_id=CORP_ID,
        agent_id="1000002", secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, base_url=f"{server.base_url}/wecom")
    platform.add_corp(corp_id=CORP_ID, secret=SECRET, token=TOKEN, encoding_aes_key=AES_KEY, agent_id="1000002")
    platform.import_follow(CORP_ID, userid=org.n1_staff.wecom_userid, external_userid=EXTERNAL, name="王芳")
    customer = customer_services.create_customer(
        enterprise_id=org.enterprise.pk, name="王芳", phone="13912345678", home_store_id=org.store_n1.pk,
        identities=[customer_services.IdentityInput(kind="wecom_external_userid", value=EXTERNAL, account=CORP_ID)])
    customer_services.add_relationship(customer=customer, staff=org.n1_staff, added_at=customer.created_at)
    return created


def _sign_in(page: Any, base: str, username: str, next_path: str) -> None:
    page.goto(f"{base}/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{next_path}")


def test_upload_script_sidebar_search_and_send_reaches_the_chat(
    browser: Any, live_server: Any, org: Org, account: ChannelAccount, tmp_path: Path,
    wecom_sim: tuple[WecomPlatform, SimulatorServer],
) -> None:
    platform, server = wecom_sim
    base = live_server.url
    picture = tmp_path / "新品海报.png"
    picture.write_bytes(png(600, 400))

    desk = browser.new_context(viewport={"width": 1280, "height": 900})
    hq = desk.new_page()
    _sign_in(hq, base, "hq", "/content/materials/new/")
    hq.select_option("#material-form select[name=kind]", "image")
    hq.fill("#material-form input[name=title]", "冬季新品海报")
    hq.set_input_files("#material-form input[name=file]", str(picture))
    hq.click("#material-form button[type=submit]:not([name])")
    hq.wait_for_url(re.compile(r".*/content/materials/\d+/$"))
    material = Material.objects.get()
    assert (material.width, material.height, material.content_type) == (600, 400, "image/png")

    hq.goto(f"{base}/content/scripts/new/")
    hq.fill("#script-form input[name=title]", "冬季新品欢迎")
    hq.select_option("#script-form select[name=scenario]", "greeting")
    hq.fill("#script-form textarea[name=hook]", "{customer_name}您好，我是{store}的{staff_name}")
    hq.fill("#script-form textarea[name=cta]", "新品海报发您看看，到店试用")
    hq.select_option("#script-form select[name=material]", str(material.pk))
    hq.click("#script-form button[type=submit]:not([name])")
    hq.wait_for_url(re.compile(r".*/content/scripts/\d+/$"))
    script = Script.objects.get()
    assert script.material_id == material.pk
    desk.close()

    opened = httpx.post(f"{server.base_url}/wecom/_sim/open_chat",
                        json={"corp_id": CORP_ID, "userid": org.n1_staff.wecom_userid, "external_userid": EXTERNAL},
                        timeout=10)
    assert opened.status_code == 200, opened.text

    phone = browser.new_context(viewport={"width": 375, "height": 812})
    page = phone.new_page()
    _sign_in(page, base, "n1_staff", "/content/sidebar/")
    expect(page.locator("#sb-customer-name")).to_have_text("王芳")
    expect(page.locator("#sb-contact")).to_contain_text("139****5678")  # store staff see the phone masked
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone

    page.fill("#sb-q", "新品")
    reply = page.locator(f'.sb-reply[data-script-id="{script.pk}"]')
    expect(reply).to_contain_text("王芳您好，我是Beijing 1的n1_staff")
    reply.locator(".sb-send").click()
    expect(reply).to_have_class(re.compile(r"\bsent\b"))
    phone.close()

    corp = platform.corps[CORP_ID]
    assert [(m["userid"], m["external_userid"], m["msgtype"]) for m in corp.chat_messages] == [
        ("n1_staff", EXTERNAL, "text"), ("n1_staff", EXTERNAL, "image")]
    assert corp.chat_messages[0]["text"]["content"] == "王芳您好，我是Beijing 1的n1_staff\n新品海报发您看看，到店试用"
    media = corp.media[corp.chat_messages[1]["image"]["mediaid"]]
    assert media["data"] == picture.read_bytes()
    assert ContentUse.objects.filter(script=script, kind="sent", customer_id__isnull=False).count() == 1
