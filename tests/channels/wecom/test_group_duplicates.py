"""Duplicate members across groups: customers live in two or more groups at once, found by one grouped query;
a member who left one of the groups, staff members and dismissed groups do not count; scope limits the groups."""

from __future__ import annotations

import pytest

from siyu.channels.wecom import queries
from siyu.channels.wecom.models import CustomerGroup
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api

pytestmark = pytest.mark.django_db(transaction=True)


def test_members_of_several_groups_are_found_set_based(wecom: Wecom) -> None:
    p = wecom.platform
    a, b, c, d = (p.new_person(CORP_ID, name=n).external_userid for n in ("甲", "乙", "丙", "丁"))
    g1 = p.create_chat(CORP_ID, "n1_staff", name="一群", members=[a, b, c, "n2_staff"])
    g2 = p.create_chat(CORP_ID, "n1_staff", name="二群", members=[a, b, "n2_staff"])
    g3 = p.create_chat(CORP_ID, "n2_staff", name="三群", members=[a, d])
    g4 = p.create_chat(CORP_ID, "n2_staff", name="四群", members=[d])
    wecom.deliver()
    p.leave_chat(CORP_ID, g2.chat_id, [b])  # b left the second group: one group only now
    p.dismiss_chat(CORP_ID, g4.chat_id)  # d's second group is gone
    wecom.deliver()

    hq = queries.duplicate_members(Scope.hq(wecom.org.enterprise.pk))
    assert hq.total == 1
    (dup,) = hq.items
    ids = {CustomerGroup.objects.get(chat_id=g.chat_id).pk for g in (g1, g2, g3)}
    assert (dup.member_id, dup.name, set(dup.group_ids)) == (a, "甲", ids)
    assert dup.customer_id is not None

    # A store manager of n1 sees n1_staff's groups only: a is in two of those.
    api = Api(wecom.org.n1_manager)
    page = api.get("/api/channels/wecom/groups/duplicates").json()
    assert [(i["member_id"], len(i["group_ids"])) for i in page["items"]] == [(a, 2)]
    # n1's staff member owns both groups too; s1's staff member sees none of them.
    assert Api(wecom.org.s1_staff).get("/api/channels/wecom/groups/duplicates").json()["total"] == 0

    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    html = wecom.client.get("/channels/wecom/groups/duplicates/").content.decode()
    assert f'data-member-id="{a}"' in html and f'data-member-id="{b}"' not in html
