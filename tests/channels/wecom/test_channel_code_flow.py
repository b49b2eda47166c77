"""Code scan → add → welcome sent → customer in Siyu with the source state and the code's tags."""

from __future__ import annotations

import pytest

from siyu.channels.models import CallbackStatus, InboundCallback
from siyu.channels.wecom import channel_codes
from siyu.channels.wecom.models import CallStatus, ChannelCode, ChannelCodeDay, CodeStatus, OutboundCall
from siyu.customers.models import Identity, Relationship, RelationshipStatus
from siyu.org.scope import Scope
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.factories import TagFactory, TagGroupFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _code(w: Wecom, **kw: object) -> ChannelCode:
    group = TagGroupFactory.create(enterprise=w.org.enterprise, name="Source")
    tag = TagFactory.create(group=group, name="Poster")
    defaults: dict[str, object] = {
        "scope": Scope.hq(w.org.enterprise.pk),
        "account_id": w.account.pk,
        "name": "Beijing poster",
        "staff_ids": [w.org.n1_staff.pk],
        "tag_ids": [tag.pk],
        "welcome_text": "{name}，欢迎！",
        "state": "bj_poster",
    }
    defaults.update(kw)
    code = channel_codes.create_channel_code(**defaults)  # type: ignore[arg-type]
    code.refresh_from_db()
    return code


def test_creating_a_code_creates_the_contact_way_on_the_platform_with_its_state(wecom: Wecom) -> None:
    code = _code(wecom)
    assert code.status == CodeStatus.ACTIVE
    way = wecom.platform.corps[CORP_ID].contact_ways[code.config_id]
    assert way.state == "bj_poster"
    assert way.users == ["n1_staff"]
    assert code.qr_code.endswith(f"/qr/{code.config_id}")


def test_scan_and_add_makes_a_customer_with_source_tags_and_a_welcome(wecom: Wecom) -> None:
    code = _code(wecom)
    person = wecom.platform.new_person(CORP_ID, name="李雷", unionid="o_unionid_li_lei_000000000001")
    wecom.platform.scan(CORP_ID, code.config_id, contact=person)
    assert wecom.deliver() == [200]

    row = InboundCallback.objects.get(event="change_external_contact/add_external_contact")
    assert row.status == CallbackStatus.PROCESSED, row.error
    identity = Identity.objects.get(kind="wecom_external_userid", value=person.external_userid)
    customer = identity.customer
    assert customer.name == "李雷"
    assert Identity.objects.filter(customer=customer, kind="unionid", value="o_unionid_li_lei_000000000001").exists()
    rel = Relationship.objects.get(customer=customer)
    assert (rel.staff_id, rel.state, rel.status) == (wecom.org.n1_staff.pk, "bj_poster", RelationshipStatus.ACTIVE)
    assert list(customer.customer_tags.values_list("tag__name", flat=True)) == ["Poster"]
    welcomes = wecom.platform.welcomes(CORP_ID)
    assert [(w.userid, w.external_userid, w.text) for w in welcomes] == [
        ("n1_staff", person.external_userid, "李雷，欢迎！")
    ]
    assert customer.events.filter(name="wecom_contact_added", properties__state="bj_poster").count() == 1


def test_the_add_counts_in_the_codes_stats_and_the_landing_page_counts_scans(wecom: Wecom) -> None:
    code = _code(wecom)
    for phone in ("iPhone", "Android"):  # two visitors (one scan per visitor and day)
        landing = wecom.client.get(f"/channels/wecom/qr/{code.config_id}/", HTTP_USER_AGENT=phone)
        assert landing.status_code == 200
    wecom.platform.scan(CORP_ID, code.config_id)
    wecom.deliver()
    day = ChannelCodeDay.objects.get(code=code)
    assert (day.scans, day.adds, day.deletes) == (2, 1, 0)


def test_welcome_code_past_its_20_seconds_is_refused_by_the_platform(wecom: Wecom) -> None:
    code = _code(wecom)
    wecom.platform.scan(CORP_ID, code.config_id)
    pending = wecom.platform.take_outbox()
    wecom.platform.advance(21)
    wecom.platform.outbox.extend(pending)
    wecom.deliver()
    assert wecom.platform.welcomes(CORP_ID) == []
    call = OutboundCall.objects.get(method="send_welcome_msg")
    assert (call.status, call.errcode) == (CallStatus.FAILED, 41050)


def test_a_customer_deleting_the_staff_member_is_kept_as_deleted_by_customer(wecom: Wecom) -> None:
    code = _code(wecom)
    follow = wecom.platform.scan(CORP_ID, code.config_id)
    wecom.deliver()
    wecom.platform.customer_deletes(CORP_ID, follow.userid, follow.external_userid)
    wecom.deliver()
    rel = Relationship.objects.get(customer__identities__value=follow.external_userid)
    assert rel.status == RelationshipStatus.DELETED_BY_CUSTOMER
    assert rel.status_changed_at is not None
    assert rel.customer.events.filter(name="wecom_contact_deleted", properties__by="customer").count() == 1
    day = ChannelCodeDay.objects.get(code=code)
    assert (day.adds, day.deletes) == (1, 1)


def test_the_staff_member_deleting_the_customer_is_marked_deleted_by_staff(wecom: Wecom) -> None:
    code = _code(wecom)
    follow = wecom.platform.scan(CORP_ID, code.config_id)
    wecom.deliver()
    wecom.platform.staff_deletes(CORP_ID, follow.userid, follow.external_userid)
    wecom.deliver()
    rel = Relationship.objects.get(customer__identities__value=follow.external_userid)
    assert rel.status == RelationshipStatus.DELETED_BY_STAFF


def test_round_robin_points_the_contact_way_at_the_next_staff_member_after_each_add(wecom: Wecom) -> None:
    staff = [wecom.org.n1_staff, wecom.org.n2_staff, wecom.org.s1_staff]
    code = _code(wecom, staff_ids=[s.pk for s in staff], assign_mode="round_robin", state="rr")
    way = wecom.platform.corps[CORP_ID].contact_ways[code.config_id]
    got = []
    for _ in range(4):
        assert len(way.users) == 1
        got.append(wecom.platform.scan(CORP_ID, code.config_id).userid)
        wecom.deliver()
    assert got == ["n1_staff", "n2_staff", "s1_staff", "n1_staff"]


def test_daily_cap_takes_a_capped_staff_member_off_the_code(wecom: Wecom) -> None:
    staff = [wecom.org.n1_staff, wecom.org.n2_staff]
    code = _code(wecom, staff_ids=[s.pk for s in staff], assign_mode="daily_cap", daily_cap=1, state="cap")
    way = wecom.platform.corps[CORP_ID].contact_ways[code.config_id]
    assert sorted(way.users) == ["n1_staff", "n2_staff"]
    wecom.platform.scan(CORP_ID, code.config_id, userid="n2_staff")
    wecom.deliver()
    assert way.users == ["n1_staff"]


def test_a_code_for_a_store_takes_the_stores_staff(wecom: Wecom) -> None:
    code = _code(wecom, staff_ids=[], store_id=wecom.org.store_n1.pk, state="store_n1")
    way = wecom.platform.corps[CORP_ID].contact_ways[code.config_id]
    assert sorted(way.users) == ["n1_mgr", "n1_staff"]
