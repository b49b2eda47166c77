"""Keywords sent to staff and active speakers need WeCom's paid chat archive (会话内容存档), which Siyu does not
connect: the keyword-group pages say that keyword groups answer on the Official Account only, and group analytics
say that speakers are not counted, in English and in Chinese."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import Org

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("language", "oa_only", "no_speakers"), [
    ("en", "answer keywords sent to the Official Account only", "Active members (who speak in a group) are not"),
    ("zh-hans", "关键词拉群只响应发送给公众号的关键词", "不统计活跃成员"),
])
def test_the_pages_say_what_the_chat_archive_would_add(org: Org, client: Client, language: str, oa_only: str,
                                                       no_speakers: str) -> None:
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    client.cookies["django_language"] = language
    for path in ("/channels/wecom/keyword-groups/", "/channels/wecom/keyword-groups/new/"):
        html = client.get(path).content.decode()
        notice = html.split('id="keyword-groups-oa-only"')[1].split("</p>")[0]
        assert oa_only in notice and "会话内容存档" in notice, path
    html = client.get("/channels/wecom/groups/analytics/").content.decode()
    assert no_speakers in html.split('id="group-analytics-no-speakers"')[1].split("</p>")[0]
