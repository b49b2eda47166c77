"""Tag-built groups (标签建群) by segment (人群包) against the simulator. Hand-made set: a static segment holding a1, a2
(who follow n1_staff) and b1 (n2_staff), and b2 who left it; a3 (n1_staff) was never in it. Each staff member who
follows members gets the invitation for exactly their members; the north-1 store manager's task reaches only
north-1's staff and customers; refusals (another enterprise's or another store's segment, tags and a segment
together, neither, an empty or unbuilt segment) carry codes and write nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from siyu.audiences import services as audience_services
from siyu.audiences.models import Segment, SegmentMembership
from siyu.channels.wecom import group_codes, queries, tag_groups
from siyu.channels.wecom.models import CustomerGroup, GroupCode, MassSend, MassSendRecipient, MassSendSender
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.org.scope import Scope, scope_for_staff
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.channels.wecom.test_api import Api
from tests.channels.wecom.test_mass_send import _cid, _customers
from tests.factories import EnterpriseFactory, TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)
RULE = {"version": 1, "root": {"type": "gender", "values": ["female"]}}


@dataclass
class World:
    a1: str
    a2: str
    a3: str
    b1: str
    b2: str
    segment: Segment
    code: GroupCode


def _world(wecom: Wecom) -> World:
    hq = Scope.hq(wecom.org.enterprise.pk)
    a1, a2, a3 = _customers(wecom, 3, "n1_staff")
    b1, b2 = _customers(wecom, 2, "n2_staff")
    segment = audience_services.create_segment(scope=hq, name="冬季老客", rule=RULE, kind="static",
                                               members=[_cid(a1), _cid(a2), _cid(b1), _cid(b2)])
    SegmentMembership.objects.filter(segment=segment, customer_id=_cid(b2)).update(left_at=timezone.now())
    chat = wecom.platform.create_chat(CORP_ID, "n1_staff", name="冬季团")
    wecom.deliver()
    code = group_codes.create_group_code(scope=hq, account_id=wecom.account.pk, name="冬季团", cap=100,
                                         group_ids=[CustomerGroup.objects.get(chat_id=chat.chat_id).pk], state="winter")
    return World(a1, a2, a3, b1, b2, segment, code)


def _invited(task: MassSend) -> dict[str, list[str]]:
    """Sender userid -> the external_userids WeCom was asked to deliver their invitation to."""
    out: dict[str, list[str]] = {}
    for sender in MassSendSender.objects.filter(mass_send=task):
        out[sender.userid] = sorted(MassSendRecipient.objects.filter(sender=sender).values_list("target", flat=True))
    return out


def test_each_staff_member_invites_their_segment_members(wecom: Wecom) -> None:
    w = _world(wecom)
    hq = Scope.hq(wecom.org.enterprise.pk)
    n1, n2 = wecom.org.n1_staff.pk, wecom.org.n2_staff.pk
    assert tag_groups.owners(hq, wecom.account.pk, [], segment_id=w.segment.pk) == {n1: 2, n2: 1}

    task = tag_groups.create_tag_group(scope=hq, account_id=wecom.account.pk, group_code_id=w.code.pk,
                                       segment_id=w.segment.pk, text="{group}开团")
    assert (task.segment_id, task.segment_name, list(task.tags.all())) == (w.segment.pk, "冬季老客", [])
    assert _invited(task) == {"n1_staff": sorted([w.a1, w.a2]), "n2_staff": [w.b1]}
    # What WeCom holds: one invitation per staff member, to their members, with the code's join link.
    w.code.refresh_from_db()
    for sender in MassSendSender.objects.filter(mass_send=task):
        message = wecom.platform.corps[CORP_ID].messages[sender.msgid]
        assert sorted(message.recipients) == _invited(task)[sender.userid]
        assert message.text == "冬季团开团"
        assert [a["link"]["url"] for a in message.attachments] == [w.code.qr_code]
    results = queries.tag_group_results(hq, task.pk)
    assert (results.staff_total, results.staff_sent, results.invited, results.joined) == (2, 0, 3, 0)


def test_a_store_manager_reaches_their_own_staff_and_customers_only(wecom: Wecom) -> None:
    w = _world(wecom)
    manager = scope_for_staff(wecom.org.n1_manager)
    task = tag_groups.create_tag_group(scope=manager, account_id=wecom.account.pk, group_code_id=w.code.pk,
                                       segment_id=w.segment.pk)
    assert _invited(task) == {"n1_staff": sorted([w.a1, w.a2])}


def test_refusals_carry_codes_and_write_nothing(wecom: Wecom) -> None:
    w = _world(wecom)
    ent = wecom.org.enterprise.pk
    hq = Scope.hq(ent)
    other = EnterpriseFactory.create(name="Other", code="other-brand", wecom_corp_id="wwother")
    foreign = audience_services.create_segment(scope=Scope.hq(other.pk), name="别家", rule=RULE, kind="static",
                                               members=[])
    south = audience_services.create_segment(scope=hq, name="南区老客", rule=RULE, kind="static",
                                             store_id=wecom.org.store_s1.pk, members=[_cid(w.a1)])
    empty = audience_services.create_segment(scope=hq, name="空", rule=RULE, kind="static", members=[_cid(w.b2)])
    SegmentMembership.objects.filter(segment=empty).update(left_at=timezone.now())
    unbuilt = audience_services.create_segment(scope=hq, name="动态", rule=RULE)
    tag = TagFactory.create(group=TagGroupFactory.create(enterprise=wecom.org.enterprise, name="兴趣"), name="滑雪")

    def make(scope: Scope = hq, segment_id: int | None = None, tag_ids: tuple[int, ...] = ()) -> MassSend:
        return tag_groups.create_tag_group(scope=scope, account_id=wecom.account.pk, group_code_id=w.code.pk,
                                           segment_id=segment_id, tag_ids=tag_ids)

    with pytest.raises(NotFound) as not_ours:
        make(segment_id=foreign.pk)
    assert not_ours.value.field == "segment_id"
    with pytest.raises(NotFound):
        make(scope_for_staff(wecom.org.n1_manager), segment_id=south.pk)
    with pytest.raises(ValidationFailed) as both:
        make(segment_id=w.segment.pk, tag_ids=(tag.pk,))
    assert (both.value.code, both.value.field) == ("segment_or_tags", "segment_id")
    with pytest.raises(ValidationFailed) as neither:
        make()
    assert (neither.value.code, neither.value.field) == ("segment_or_tags", "tag_ids")
    with pytest.raises(ValidationFailed) as nobody:  # its one customer left it: nobody to invite
        make(segment_id=empty.pk)
    assert (nobody.value.code, nobody.value.field) == ("no_customers", "segment_id")
    with pytest.raises(Conflict) as building:
        make(segment_id=unbuilt.pk)
    assert (building.value.code, building.value.field) == ("segment_not_built", "segment_id")
    assert not MassSend.objects.exists()

    api = Api(wecom.org.n1_manager)
    body = {"account_id": wecom.account.pk, "group_code_id": w.code.pk}
    refused = api.post("/api/channels/wecom/tag-built-groups", {**body, "segment_id": foreign.pk})
    assert refused.status_code == 404 and (refused.json()["code"], refused.json()["field"]) == (
        "not_found", "segment_id"), refused.content
    mixed = api.post("/api/channels/wecom/tag-built-groups", {**body, "segment_id": w.segment.pk, "tag_ids": [tag.pk]})
    assert mixed.status_code == 422 and mixed.json()["code"] == "segment_or_tags", mixed.content
    assert api.post("/api/channels/wecom/tag-built-groups", body).json()["code"] == "segment_or_tags"
    assert not MassSend.objects.exists()

    made = api.post("/api/channels/wecom/tag-built-groups", {**body, "segment_id": w.segment.pk})
    assert made.status_code == 201, made.content
    out = made.json()
    assert (out["segment_id"], out["segment_name"], out["tag_ids"], out["invited"], out["staff_total"]) == (
        w.segment.pk, "冬季老客", [], 2, 1)


def test_the_console_form_takes_a_segment_and_shows_refusals_beside_it(wecom: Wecom) -> None:
    w = _world(wecom)
    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    form = wecom.client.get("/channels/wecom/tag-built-groups/").content.decode()
    assert f'<option value="{w.segment.pk}">冬季老客</option>' in form
    post = {"form_key": "k1", "account": wecom.account.pk, "group_code": w.code.pk, "match": "all",
            "segment": w.segment.pk,
            "tags": [TagFactory.create(group=TagGroupFactory.create(enterprise=wecom.org.enterprise), name="x").pk]}
    refused = wecom.client.post("/channels/wecom/tag-built-groups/", post).content.decode()
    assert "segment_or_tags" in refused.split('id="field-segment"')[1].split('id="field-name"')[0]
    assert not MassSend.objects.exists()

    del post["tags"]
    post["form_key"] = "k2"
    made = wecom.client.post("/channels/wecom/tag-built-groups/", post)
    assert made.status_code == 302, made.content.decode()[:2000]
    task = MassSend.objects.get()
    assert made["Location"] == f"/channels/wecom/tag-built-groups/{task.pk}/"
    assert _invited(task) == {"n1_staff": sorted([w.a1, w.a2]), "n2_staff": [w.b1]}
    page = wecom.client.get(made["Location"]).content.decode()
    assert f'data-segment-id="{w.segment.pk}"' in page and "冬季老客" in page
    listing = wecom.client.get("/channels/wecom/tag-built-groups/").content.decode()
    assert f'data-segment-id="{w.segment.pk}"' in listing
    details = wecom.client.get(f"/channels/wecom/mass-sends/{task.pk}/").content.decode()
    assert f'data-segment-id="{w.segment.pk}"' in details
