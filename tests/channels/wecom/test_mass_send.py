"""Mass sends (群发) end to end against the simulator: recipients resolved per sender (a customer who deleted the
staff member is left out), add_msg_template through the outbox, the sender confirming in the client, and the
per-recipient results WeCom reports (sent, over the monthly limit) polled back; group sends; the API's field errors
and scoping; the console pages."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from simulator.wecom import ContactWayState
from siyu.channels.wecom import housekeeping, mass_sends
from siyu.channels.wecom.client import WecomClient
from siyu.channels.wecom.models import (
    ChannelCode,
    CustomerGroup,
    MassSend,
    MassSendRecipient,
    MassSendSender,
    MassSendStatus,
    OutboundCall,
    RecipientStatus,
    SenderStatus,
)
from siyu.core.models import AuditEntry
from siyu.customers import services as customer_services
from siyu.customers.models import Customer, Relationship, RelationshipStatus
from siyu.org.models import Staff
from siyu.org.scope import Scope
from siyu.org.services import create_api_token
from tests.channels.wecom.conftest import CORP_ID, SECRET, Wecom

pytestmark = pytest.mark.django_db(transaction=True)

LINK = {"msgtype": "link", "link": {"title": "新品上市", "url": "https://example.com/new"}}


class Api:
    def __init__(self, staff: Staff) -> None:
        _token, secret = create_api_token(staff=staff, name="test")
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        """A fresh Idempotency-Key per action, as a client sends it (creates that reach WeCom need one)."""
        headers = {**self.headers, "Idempotency-Key": uuid.uuid4().hex}
        return self.client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def _hq(w: Wecom) -> Scope:
    return Scope.hq(w.org.enterprise.pk)


def _customers(w: Wecom, n: int, userid: str = "n1_staff") -> list[str]:
    """n new customers who add `userid` through a contact way (the callbacks create them in Siyu)."""
    config_id = f"cfg-{userid}"
    if not ChannelCode.objects.filter(state=f"s-{userid}").exists():
        ChannelCode.objects.create(enterprise=w.org.enterprise, account=w.account, name=userid, state=f"s-{userid}")
        w.platform.corps[CORP_ID].contact_ways[config_id] = ContactWayState(config_id, 2, 2, [userid], f"s-{userid}")
    externals = [w.platform.scan(CORP_ID, config_id).external_userid for _ in range(n)]
    w.deliver()
    return externals


def _cid(external_userid: str) -> int:
    return Customer.objects.get(identities__value=external_userid).pk


def _direct_client(w: Wecom) -> WecomClient:
    """A second client, as another system using the corp would be: it spends the recipients' monthly quota."""
    return WecomClient(base_url=w.account.base_url, corp_id=CORP_ID, secret=SECRET)


def _results(mass_send_id: int) -> dict[str, str]:
    return dict(MassSendRecipient.objects.filter(mass_send_id=mass_send_id).values_list("target", "status"))


def test_a_mass_send_to_three_customers_one_deleted_one_over_the_limit(wecom: Wecom) -> None:
    a, b, c = _customers(wecom, 3)
    wecom.platform.customer_deletes(CORP_ID, "n1_staff", c)
    wecom.deliver()
    assert Relationship.objects.get(customer_id=_cid(c)).status == RelationshipStatus.DELETED_BY_CUSTOMER
    other = _direct_client(wecom)
    for n in range(4):  # b has had this month's 4 mass messages already
        earlier = other.add_msg_template(external_userids=[b], sender="n1_staff", text=f"earlier {n}")
        wecom.platform.confirm_mass_send(CORP_ID, earlier.msgid)

    mass_send = mass_sends.create_mass_send(
        scope=_hq(wecom), account_id=wecom.account.pk, kind="single", sender_ids=[wecom.org.n1_staff.pk],
        name="新品", customer_ids=[_cid(a), _cid(b), _cid(c)], text="新品上市，欢迎到店", attachments=[LINK],
        submit=True,
    )

    # c deleted the staff member: not a recipient, counted as left out
    mass_send.refresh_from_db()
    sender = MassSendSender.objects.get(mass_send=mass_send)
    assert (mass_send.status, mass_send.recipient_total, mass_send.excluded_count) == (MassSendStatus.SENDING, 2, 1)
    assert sender.status == SenderStatus.WAITING and sender.msgid
    call = OutboundCall.objects.get(method="add_msg_template")
    assert call.idempotency_key == f"add_msg_template:mass_send:{mass_send.pk}:{wecom.org.n1_staff.pk}:0"
    message = wecom.platform.corps[CORP_ID].messages[sender.msgid]
    assert (message.sender, sorted(message.recipients)) == ("n1_staff", sorted([a, b]))
    assert message.text == "新品上市，欢迎到店"
    assert message.attachments == [LINK]

    # the staff member has not confirmed yet: nothing is sent
    assert mass_sends.poll_mass_send(mass_send_id=mass_send.pk) == 0
    assert _results(mass_send.pk) == {a: RecipientStatus.NOT_SENT, b: RecipientStatus.NOT_SENT}

    wecom.platform.confirm_mass_send(CORP_ID, sender.msgid)
    assert mass_sends.poll_mass_send(mass_send_id=mass_send.pk) == 2
    assert _results(mass_send.pk) == {a: RecipientStatus.SENT, b: RecipientStatus.OVER_LIMIT}
    mass_send.refresh_from_db()
    sender.refresh_from_db()
    assert (mass_send.sent_count, mass_send.not_sent_count, mass_send.failed_count, mass_send.over_limit_count) == (
        1, 0, 0, 1
    )
    assert (mass_send.status, sender.status) == (MassSendStatus.SENT, SenderStatus.SENT)
    assert mass_send.finished_at is not None and sender.sent_at is not None
    assert mass_sends.poll_mass_send(mass_send_id=mass_send.pk) == 0  # done: nothing more to ask
    actions = set(AuditEntry.objects.filter(target_type="mass_send").values_list("action", flat=True))
    assert actions == {"wecom.mass_send.create", "wecom.mass_send.submit"}


def test_two_senders_one_template_each_and_a_shared_customer_goes_once(wecom: Wecom) -> None:
    a, shared = _customers(wecom, 2, "n1_staff")
    (d,) = _customers(wecom, 1, "n2_staff")
    contact = wecom.platform.corps[CORP_ID].contacts[shared]
    wecom.platform.scan(CORP_ID, "cfg-n2_staff", contact=contact)  # shared now follows both
    wecom.deliver()
    vip = customer_services.create_tag(
        group=customer_services.create_tag_group(enterprise_id=wecom.org.enterprise.pk, name="等级"), name="VIP"
    )
    customer_services.tag_customers(
        enterprise_id=wecom.org.enterprise.pk, customer_ids=[_cid(shared), _cid(d)], tag_ids=[vip.pk]
    )

    mass_send = mass_sends.create_mass_send(
        scope=_hq(wecom), account_id=wecom.account.pk, kind="single",
        sender_ids=[wecom.org.n1_staff.pk, wecom.org.n2_staff.pk], customer_ids=[_cid(a)], tag_ids=[vip.pk],
        text="VIP 专享", submit=True,
    )

    by_sender = {
        s.userid: sorted(s.recipients.values_list("target", flat=True))
        for s in MassSendSender.objects.filter(mass_send=mass_send)
    }
    assert by_sender == {"n1_staff": sorted([a, shared]), "n2_staff": [d]}
    assert OutboundCall.objects.filter(method="add_msg_template").count() == 2
    for msgid in MassSendSender.objects.filter(mass_send=mass_send).values_list("msgid", flat=True):
        wecom.platform.confirm_mass_send(CORP_ID, msgid)
    mass_sends.poll_mass_send(mass_send_id=mass_send.pk)
    mass_send.refresh_from_db()
    assert (mass_send.status, mass_send.sent_count, mass_send.recipient_total) == (MassSendStatus.SENT, 3, 3)


def test_a_group_send_reports_only_the_groups_that_got_it(wecom: Wecom) -> None:
    a, b = _customers(wecom, 2)
    busy = wecom.platform.create_chat(CORP_ID, "n1_staff", name="老客群", members=[a])
    quiet = wecom.platform.create_chat(CORP_ID, "n1_staff", name="新客群", members=[b])
    wecom.platform.create_chat(CORP_ID, "n2_staff", name="别家群", members=[])
    wecom.deliver()
    assert CustomerGroup.objects.count() == 3
    other = _direct_client(wecom)
    for n in range(4):  # the busy group has had its 4 this month
        earlier = other.add_msg_template(chat_type="group", chat_ids=[busy.chat_id], sender="n1_staff", text=f"{n}")
        wecom.platform.confirm_mass_send(CORP_ID, earlier.msgid)

    mass_send = mass_sends.create_mass_send(
        scope=_hq(wecom), account_id=wecom.account.pk, kind="group", sender_ids=[wecom.org.n1_staff.pk],
        text="周末活动", submit=True,
    )
    sender = MassSendSender.objects.get(mass_send=mass_send)
    assert sorted(wecom.platform.corps[CORP_ID].messages[sender.msgid].recipients) == sorted(
        [busy.chat_id, quiet.chat_id]
    )
    wecom.platform.confirm_mass_send(CORP_ID, sender.msgid)
    mass_sends.poll_mass_send(mass_send_id=mass_send.pk)

    # for group sends WeCom lists only the groups that received it: the busy one stays unsent
    assert _results(mass_send.pk) == {busy.chat_id: RecipientStatus.NOT_SENT, quiet.chat_id: RecipientStatus.SENT}
    mass_send.refresh_from_db()
    assert (mass_send.status, mass_send.sent_count, mass_send.not_sent_count) == (MassSendStatus.SENT, 1, 1)
    group = CustomerGroup.objects.get(chat_id=quiet.chat_id)
    assert MassSendRecipient.objects.get(target=quiet.chat_id).group_id == group.pk


def test_results_queried_while_wecom_still_dispatches_are_asked_again_later(wecom: Wecom) -> None:
    (a,) = _customers(wecom, 1)
    wecom.platform.limits.mass_dispatch_s = 30
    mass_send = mass_sends.create_mass_send(
        scope=_hq(wecom), account_id=wecom.account.pk, kind="single", sender_ids=[wecom.org.n1_staff.pk],
        customer_ids=[_cid(a)], text="hi", submit=True,
    )
    sender = MassSendSender.objects.get(mass_send=mass_send)
    wecom.platform.confirm_mass_send(CORP_ID, sender.msgid)
    assert mass_sends.poll_mass_send(mass_send_id=mass_send.pk) == 0
    sender.refresh_from_db()
    assert (sender.status, sender.errcode) == (SenderStatus.WAITING, 41063)
    assert sender.next_poll_at is not None
    assert housekeeping.sweep()["mass_send_results"] == 0  # not due yet

    wecom.platform.advance(31)
    MassSendSender.objects.filter(pk=sender.pk).update(next_poll_at=None)
    assert housekeeping.sweep()["mass_send_results"] == 1
    assert _results(mass_send.pk) == {a: RecipientStatus.SENT}


def test_a_rejected_template_fails_its_recipients(wecom: Wecom) -> None:
    (a,) = _customers(wecom, 1)
    wecom.platform.corps[CORP_ID].members.pop("n1_staff")  # no longer a member: 40003
    mass_send = mass_sends.create_mass_send(
        scope=_hq(wecom), account_id=wecom.account.pk, kind="single", sender_ids=[wecom.org.n1_staff.pk],
        customer_ids=[_cid(a)], text="hi", submit=True,
    )
    mass_send.refresh_from_db()
    sender = MassSendSender.objects.get(mass_send=mass_send)
    assert (sender.status, sender.errcode) == (SenderStatus.FAILED, 40003)
    assert (mass_send.status, mass_send.failed_count) == (MassSendStatus.FAILED, 1)


def test_the_simulator_lists_messages_and_tasks_with_the_platforms_field_names(wecom: Wecom) -> None:
    (a,) = _customers(wecom, 1)
    client = _direct_client(wecom)
    made = client.add_msg_template(external_userids=[a], sender="n1_staff", text="hello", attachments=[LINK])
    start = int(wecom.platform.now()) - 60
    [listed] = client.get_groupmsg_list_v2(start_time=start, end_time=start + 3600).items
    assert (listed.msgid, listed.text, listed.create_type, listed.creator) == (made.msgid, "hello", 0, "")
    assert listed.attachments == (LINK,)
    assert client.get_groupmsg_list_v2(start_time=start, end_time=start + 3600, filter_type=1).items == ()
    assert [(t.userid, t.status) for t in client.get_groupmsg_task(msgid=made.msgid).items] == [("n1_staff", 0)]
    wecom.platform.confirm_mass_send(CORP_ID, made.msgid)
    [task] = client.get_groupmsg_task(msgid=made.msgid).items
    assert task.status == 2 and task.send_time > 0


# ---------------------------------------------------------------------------------------------------------------
# API: field errors, scoping


def _body(w: Wecom, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "account_id": w.account.pk, "kind": "single", "sender_ids": [w.org.n1_staff.pk], "customer_ids": [],
        "tag_ids": [], "text": "你好", "attachments": [LINK],
    }
    body.update(extra)
    return body


@pytest.mark.parametrize(("extra", "status", "field", "index"), [
    ({"kind": "broadcast"}, 422, "kind", None),
    ({"sender_ids": []}, 422, "sender_ids", None),
    ({"text": "", "attachments": []}, 422, "text", None),
    ({"text": "长" * 1400}, 422, "text", None),  # 4200 bytes
    ({"attachments": [LINK, {"msgtype": "link", "link": {"title": "no url"}}]}, 422, "attachments", 1),
    ({"attachments": [{"msgtype": "video", "video": {"media_id": "m"}}]}, 422, "attachments", 0),
    ({"customer_ids": [999999]}, 404, "customer_ids", 0),
    ({"tag_ids": [999999]}, 404, "tag_ids", 0),
    ({"kind": "group", "customer_ids": [1]}, 422, "customer_ids", None),
    ({"kind": "group", "customer_ids": [], "group_ids": [999999]}, 404, "group_ids", 0),
    ({"account_id": 999999}, 404, "account_id", None),
    ({"sender_ids": [999999]}, 404, "sender_ids", 0),
    ({"unknown": 1}, 422, "unknown", None),
])
def test_bad_input_is_a_field_error_and_nothing_is_written(
    wecom: Wecom, extra: dict[str, Any], status: int, field: str, index: int | None
) -> None:
    _customers(wecom, 1)
    body = _body(wecom, customer_ids=[Customer.objects.get().pk], submit=True)
    body.update(extra)
    response = Api(wecom.org.hq).post("/api/channels/wecom/mass-sends", body)
    assert response.status_code == status, response.content
    assert (response.json()["field"], response.json().get("index")) == (field, index)
    assert MassSend.objects.count() == 0 and OutboundCall.objects.filter(method="add_msg_template").count() == 0


def test_nobody_reachable_is_a_field_error_and_nothing_is_written(wecom: Wecom) -> None:
    (c,) = _customers(wecom, 1)
    wecom.platform.customer_deletes(CORP_ID, "n1_staff", c)
    wecom.deliver()
    response = Api(wecom.org.hq).post("/api/channels/wecom/mass-sends", _body(wecom, customer_ids=[_cid(c)],
                                                                              submit=True))
    assert (response.status_code, response.json()["field"]) == (422, "customer_ids")
    assert MassSend.objects.count() == 0 and MassSendSender.objects.count() == 0


def test_a_draft_over_the_api_then_submitted_once(wecom: Wecom) -> None:
    (a,) = _customers(wecom, 1)
    api = Api(wecom.org.n1_manager)
    created = api.post("/api/channels/wecom/mass-sends", _body(wecom, customer_ids=[_cid(a)]))
    assert created.status_code == 201, created.content
    draft = created.json()
    assert (draft["status"], draft["recipients"], draft["senders"][0]["status"]) == ("draft", [], "draft")
    assert OutboundCall.objects.count() == 0

    submitted = api.post(f"/api/channels/wecom/mass-sends/{draft['id']}/submit", {})
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == "sending"
    assert [(r["target"], r["status"]) for r in submitted.json()["recipients"]] == [(a, "not_sent")]
    again = api.post(f"/api/channels/wecom/mass-sends/{draft['id']}/submit", {})
    assert (again.status_code, again.json()["field"]) == (409, "status")

    msgid = submitted.json()["senders"][0]["msgid"]
    wecom.platform.confirm_mass_send(CORP_ID, msgid)
    refreshed = api.post(f"/api/channels/wecom/mass-sends/{draft['id']}/refresh", {}).json()
    assert (refreshed["status"], refreshed["sent_count"], refreshed["senders"][0]["sent"]) == ("sent", 1, 1)
    listed = api.get("/api/channels/wecom/mass-sends", status="sent").json()
    assert (listed["total"], listed["items"][0]["sent_count"], listed["items"][0]["not_sent_count"]) == (1, 1, 0)


def test_store_staff_send_only_as_themselves(wecom: Wecom) -> None:
    (a,) = _customers(wecom, 1, "n1_staff")
    (s,) = _customers(wecom, 1, "s1_staff")
    staff_api = Api(wecom.org.n1_staff)
    for_other = staff_api.post("/api/channels/wecom/mass-sends", _body(
        wecom, sender_ids=[wecom.org.s1_staff.pk], customer_ids=[_cid(a)]))
    assert (for_other.status_code, for_other.json()["field"], for_other.json()["index"]) == (403, "sender_ids", 0)
    manager_for_other = Api(wecom.org.n1_manager).post("/api/channels/wecom/mass-sends", _body(
        wecom, sender_ids=[wecom.org.s1_staff.pk], customer_ids=[_cid(a)]))
    assert manager_for_other.status_code == 403
    assert MassSend.objects.count() == 0
    # someone else's customer is not the store staff member's to name
    not_mine = staff_api.post("/api/channels/wecom/mass-sends", _body(wecom, customer_ids=[_cid(s)]))
    assert (not_mine.status_code, not_mine.json()["field"]) == (404, "customer_ids")

    own = staff_api.post("/api/channels/wecom/mass-sends", _body(wecom, customer_ids=[_cid(a)], submit=True))
    assert own.status_code == 201, own.content
    mass_send_id = own.json()["id"]
    other_store = Api(wecom.org.s1_staff)
    assert other_store.get(f"/api/channels/wecom/mass-sends/{mass_send_id}").status_code == 404
    assert other_store.get("/api/channels/wecom/mass-sends").json()["total"] == 0
    assert other_store.post(f"/api/channels/wecom/mass-sends/{mass_send_id}/refresh", {}).status_code == 404
    assert Api(wecom.org.north_manager).get("/api/channels/wecom/mass-sends").json()["total"] == 1


# ---------------------------------------------------------------------------------------------------------------
# Console


def _login(w: Wecom, staff: Staff) -> None:
    assert staff.user is not None
    w.client.force_login(staff.user)


def test_console_pages_render_for_hq_with_counts(wecom: Wecom) -> None:
    a, b = _customers(wecom, 2)
    _login(wecom, wecom.org.hq)
    index = wecom.client.get("/channels/").content.decode()
    assert 'href="/channels/wecom/mass-sends/"' in index and 'href="/channels/wecom/moments/"' in index
    assert wecom.client.get("/channels/wecom/mass-sends/").status_code == 200
    assert wecom.client.get("/channels/wecom/mass-sends/new/").status_code == 200

    response = wecom.client.post("/channels/wecom/mass-sends/new/", {"form_key": "test-form-1",
        "account": wecom.account.pk, "name": "周末", "kind": "single", "senders": [wecom.org.n1_staff.pk],
        "customers": f"{_cid(a)}, {_cid(b)}", "text": "周末见", "attachment": "link", "att_title": "活动",
        "att_url": "https://example.com/w",
    })
    mass_send = MassSend.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/channels/wecom/mass-sends/{mass_send.pk}/"
    draft = wecom.client.get(response["Location"])
    assert draft.status_code == 200 and "≈2" in draft.content.decode()

    submitted = wecom.client.post(f"/channels/wecom/mass-sends/{mass_send.pk}/submit/")
    assert submitted.status_code == 302
    msgid = MassSendSender.objects.get().msgid
    wecom.platform.confirm_mass_send(CORP_ID, msgid)
    assert wecom.client.post(f"/channels/wecom/mass-sends/{mass_send.pk}/refresh/").status_code == 302
    page = wecom.client.get(f"/channels/wecom/mass-sends/{mass_send.pk}/").content.decode()
    assert 'data-kpi="sent"><small>' in page and page.count('data-status="sent"') == 2
    listing = wecom.client.get("/channels/wecom/mass-sends/").content.decode()
    assert f'data-sent="{mass_send.pk}">2<' in listing
    assert 'data-status-count="sent">' in listing
    filtered = wecom.client.get(f"/channels/wecom/mass-sends/{mass_send.pk}/", {"status": "failed"})
    assert filtered.status_code == 200 and 'data-status="sent"' not in filtered.content.decode()


def test_a_service_error_in_the_console_form_lands_on_its_field(wecom: Wecom) -> None:
    _login(wecom, wecom.org.hq)
    response = wecom.client.post("/channels/wecom/mass-sends/new/", {"form_key": "test-form-2",
        "account": wecom.account.pk, "kind": "single", "senders": [wecom.org.n1_staff.pk], "text": "x"})
    assert response.status_code == 200
    assert 'id="field-customers"' in response.content.decode() and "has-error" in response.content.decode()
    assert MassSend.objects.count() == 0


def test_a_store_staff_member_sees_only_their_own_mass_sends_in_the_console(wecom: Wecom) -> None:
    (a,) = _customers(wecom, 1)
    mass_send = mass_sends.create_mass_send(
        scope=_hq(wecom), account_id=wecom.account.pk, kind="single", sender_ids=[wecom.org.n1_staff.pk],
        customer_ids=[_cid(a)], text="hi",
    )
    _login(wecom, wecom.org.s1_staff)
    assert wecom.client.get(f"/channels/wecom/mass-sends/{mass_send.pk}/").status_code == 404
    assert wecom.client.post(f"/channels/wecom/mass-sends/{mass_send.pk}/submit/").status_code == 404
    _login(wecom, wecom.org.n1_staff)
    assert wecom.client.get(f"/channels/wecom/mass-sends/{mass_send.pk}/").status_code == 200
