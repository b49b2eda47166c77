"""The custom menu: validated before it is pushed (field-level errors, nothing written), then pushed to the platform."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from simulator.state import current
from siyu.channels.official_account.client import TerminalError
from siyu.channels.official_account.models import Menu
from siyu.channels.official_account.provider import client_for
from siyu.org.services import create_api_token
from tests.channels.oa.conftest import DEMO

pytestmark = pytest.mark.django_db


def leaf(n: int) -> dict[str, str]:
    return {"type": "click", "name": f"B{n}", "key": f"K{n}"}


@pytest.fixture
def api(org, account, django_capture_on_commit_callbacks: Any):
    _token, secret = create_api_token(staff=org.hq, name="oa tests")
    client = Client(headers={"Authorization": f"Bearer {secret}"})

    def put(buttons: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.put(f"/api/oa/accounts/{account.pk}/menu", json.dumps({"button": buttons}),
                              content_type="application/json")

    return put


def test_a_valid_menu_is_saved_and_pushed_to_the_platform(api, account) -> None:
    buttons = [
        {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
        {"name": "菜单", "sub_button": [
            {"type": "view", "name": "搜索", "url": "http://www.soso.com/"},
            {"type": "miniprogram", "name": "wxa", "url": "http://mp.weixin.qq.com", "appid": "wx286b93c14bbf93aa",
             "pagepath": "pages/lunar/index"},
        ]},
    ]
    response = api(buttons)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["version"], body["pushed_version"]) == ("pending", 1, 0)  # recorded, then pushed
    menu = Menu.objects.get()
    assert (menu.status, menu.pushed_version) == ("pushed", 1)
    assert current().oa.app(DEMO.app_id).menu == buttons


@pytest.mark.parametrize(
    ("buttons", "field"),
    [
        ([leaf(1), leaf(2), leaf(3), leaf(4)], "button"),
        ([{"name": "菜单", "sub_button": [leaf(n) for n in range(6)]}], "button[0].sub_button"),
        ([leaf(1), {"type": "click", "name": "六个汉字按钮", "key": "K"}], "button[1].name"),  # 18 bytes > 16
        ([{"name": "菜单", "sub_button": [leaf(1), {"type": "view", "name": "一" * 21, "url": "https://a.cn"}]}],
         "button[0].sub_button[1].name"),  # 63 bytes > 60
        ([{"type": "click", "name": "K", "key": "k" * 129}], "button[0].key"),
        ([{"type": "view", "name": "V", "url": "ftp://example.com"}], "button[0].url"),
        ([{"type": "location_select", "name": "L", "key": "k"}], "button[0].type"),
        ([{"type": "miniprogram", "name": "M", "url": "https://a.cn", "pagepath": "p"}], "button[0].appid"),
        ([{"name": "空", "sub_button": []}], "button[0].sub_button"),
        ([], "button"),
    ],
)
def test_an_invalid_menu_is_refused_with_the_field_and_nothing_is_written(api, buttons: Any, field: str) -> None:
    response = api(buttons)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert not Menu.objects.exists()
    assert current().oa.app(DEMO.app_id).menu is None


def test_names_are_measured_in_utf8_bytes(api) -> None:
    assert api([{"type": "click", "name": "五个汉字钮", "key": "K"}]).status_code == 200  # 15 bytes
    assert api([{"name": "M", "sub_button": [{"type": "click", "name": "二" * 20, "key": "K"}]}]).status_code == 200


def test_the_simulator_enforces_the_platform_errcodes(account) -> None:
    client = client_for(account)
    cases: list[tuple[Any, int]] = [
        ([leaf(1), leaf(2), leaf(3), leaf(4)], 40016),
        ([{"type": "bogus", "name": "B", "key": "K"}], 40017),
        ([{"type": "click", "name": "x" * 17, "key": "K"}], 40018),
        ([{"name": "M", "sub_button": [leaf(n) for n in range(6)]}], 40023),
        ([{"name": "M", "sub_button": [{"type": "click", "name": "x" * 61, "key": "K"}]}], 40025),
    ]
    for buttons, errcode in cases:
        with pytest.raises(TerminalError) as caught:
            client.create_menu(buttons)
        assert caught.value.errcode == errcode


def test_a_platform_refusal_leaves_the_menu_failed_with_the_reason(api, account) -> None:
    current().oa.app(DEMO.app_id).quotas["menu/create"] = 0
    response = api([leaf(1)])
    assert response.status_code == 200
    menu = Menu.objects.get()
    assert menu.status == "failed"
    assert menu.error.startswith("45009")
