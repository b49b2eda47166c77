"""The group list filtered by owner, in the console and over the API: only that owner's groups, and an owner outside
the caller's scope gives none (never another store's groups)."""

from __future__ import annotations

import pytest

from siyu.channels.wecom.models import CustomerGroup
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_owner_filter_narrows_within_the_callers_scope(wecom: Wecom) -> None:
    for owner, name in (("n1_staff", "北京一群"), ("n1_staff", "北京二群"), ("n2_staff", "北京三群"),
                        ("s1_staff", "上海一群")):
        wecom.platform.create_chat(CORP_ID, owner, name=name)
    wecom.deliver()
    assert CustomerGroup.objects.count() == 4
    n2, s1 = wecom.org.n2_staff, wecom.org.s1_staff

    hq = Api(wecom.org.hq)
    names = [g["name"] for g in hq.get("/api/channels/wecom/groups", owner_id=wecom.org.n1_staff.pk).json()["items"]]
    assert sorted(names) == ["北京一群", "北京二群"]
    assert [g["name"] for g in hq.get("/api/channels/wecom/groups", owner_id=s1.pk).json()["items"]] == ["上海一群"]
    manager = Api(wecom.org.n1_manager)  # store n1's manager: the Shanghai owner is outside their scope
    assert manager.get("/api/channels/wecom/groups", owner_id=s1.pk).json()["total"] == 0

    assert wecom.org.hq.user is not None and wecom.org.n1_manager.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    page = wecom.client.get("/channels/wecom/groups/", {"owner": n2.pk}).content.decode()
    assert "北京三群" in page and "北京一群" not in page and "上海一群" not in page
    assert f'<option value="{n2.pk}" selected>' in page
    wecom.client.force_login(wecom.org.n1_manager.user)
    page = wecom.client.get("/channels/wecom/groups/", {"owner": s1.pk}).content.decode()
    assert "上海一群" not in page and f'<option value="{s1.pk}"' not in page  # not offered, not shown
    assert "北京一群" in wecom.client.get("/channels/wecom/groups/", {"owner": "x"}).content.decode()  # ignored
