"""MemChangeCnt, the callback's documented count of the members changed: when a member-change event lists fewer
members than it counts (the protocol notes' own sample counts 10 and lists 2), Siyu reads the group whole from the
platform (groupchat/get) instead of applying the short list, so joins and quits per day miss nobody."""

from __future__ import annotations

import pytest

from simulator.wecom import ChatMember
from siyu.channels.wecom.models import CustomerGroup, GroupMembership
from tests.channels.wecom.conftest import CORP_ID, Wecom

pytestmark = pytest.mark.django_db(transaction=True)


def _group(w: Wecom) -> CustomerGroup:
    chat = w.platform.create_chat(CORP_ID, "n1_staff", name="双旦快闪群")
    assert w.deliver() == [200]
    return CustomerGroup.objects.get(chat_id=chat.chat_id)


def _join_quietly(w: Wecom, chat_id: str, n: int) -> list[str]:
    """n customers join on the platform without their callback (as when WeCom batches several joins in one)."""
    chat = w.platform.corps[CORP_ID].chats[chat_id]
    people = [w.platform.new_person(CORP_ID).external_userid for _ in range(n)]
    for person in people:
        chat.members[person] = ChatMember(person, 2, int(w.platform.now()), 3)
    return people


def _member_change(w: Wecom, chat_id: str, count: int, listed: list[str]) -> None:
    pending = w.platform.emit(w.platform.corps[CORP_ID], [
        ("Event", "change_external_chat"), ("ChatId", chat_id), ("ChangeType", "update"),
        ("UpdateDetail", "add_member"), ("JoinScene", 3), ("MemChangeCnt", count), ("MemChangeList", listed),
    ])
    assert pending is not None
    assert w.deliver() == [200]


def _live(group: CustomerGroup) -> set[str]:
    return set(GroupMembership.objects.filter(group=group, left_at__isnull=True, member_type=2)
               .values_list("member_id", flat=True))


def test_an_event_listing_fewer_members_than_it_counts_reads_the_group_whole(wecom: Wecom) -> None:
    group = _group(wecom)
    people = _join_quietly(wecom, group.chat_id, 3)
    _member_change(wecom, group.chat_id, 3, people[:1])  # counts 3, lists 1
    assert _live(group) == set(people)  # all three from groupchat/get, not only the one listed


def test_an_event_listing_every_member_it_counts_is_applied_as_it_is(wecom: Wecom) -> None:
    group = _group(wecom)
    listed, unlisted = _join_quietly(wecom, group.chat_id, 2)
    _member_change(wecom, group.chat_id, 1, [listed])  # complete: no read of the group
    assert _live(group) == {listed}  # the member the platform did not announce is not guessed at
    _member_change(wecom, group.chat_id, 2, [])  # a count with no list at all: the group is read
    assert _live(group) == {listed, unlisted}
