"""The API client against the simulator over HTTP: shapes, errcodes, limits (no database)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulator.server import SimulatorServer
from simulator.wecom import ContactWayState, WecomPlatform, make_app
from siyu.channels.wecom.client import MemoryTokenStore, RetryableError, TerminalError, WecomClient

CORP = "wwclienttest"


@pytest.fixture
def platform() -> WecomPlatform:
    p = WecomPlatform(seed=3)
    p.add_corp(corp_id=CORP, secret="s3cret", token="tok", encoding_aes_key="a" * 43)
    for userid in ("alice", "bob", "carol"):
        p.add_member(CORP, userid)
    p.corps[CORP].contact_ways["cfg"] = ContactWayState("cfg", 2, 2, ["alice"], "st")
    return p


@pytest.fixture
def client(platform: WecomPlatform) -> Iterator[WecomClient]:
    with SimulatorServer(port=0, mounts={"/wecom": make_app(platform)}) as server:
        c = WecomClient(base_url=f"{server.base_url}/wecom", corp_id=CORP, secret="s3cret")
        yield c
        c.close()


def _customer(platform: WecomPlatform, userid: str = "alice") -> str:
    return platform.scan(CORP, "cfg", userid=userid).external_userid


def test_a_wrong_secret_is_a_terminal_40001(platform: WecomPlatform, client: WecomClient) -> None:
    client.secret = "wrong"
    with pytest.raises(TerminalError) as caught:
        client.get_external_contact("x")
    assert caught.value.errcode == 40001


def test_the_token_is_cached_until_it_expires(platform: WecomPlatform, client: WecomClient) -> None:
    ext = _customer(platform)
    for _ in range(3):
        client.get_external_contact(ext)
    assert platform.api_calls.count("/cgi-bin/gettoken") == 1


def test_an_unknown_external_userid_is_40096_and_a_deleted_relation_84061(
    platform: WecomPlatform, client: WecomClient
) -> None:
    with pytest.raises(TerminalError) as caught:
        client.get_external_contact("wm_nobody")
    assert caught.value.errcode == 40096
    ext = _customer(platform)
    platform.customer_deletes(CORP, "alice", ext)
    with pytest.raises(TerminalError) as caught:
        client.get_external_contact(ext)
    assert caught.value.errcode == 84061


def test_contact_detail_shape(platform: WecomPlatform, client: WecomClient) -> None:
    person = platform.new_person(CORP, name="张三", unionid="oU1")
    platform.scan(CORP, "cfg", contact=person)
    detail = client.get_external_contact(person.external_userid)
    assert (detail.contact.name, detail.contact.unionid) == ("张三", "oU1")
    [follow] = detail.follow_users
    assert (follow.userid, follow.state, follow.add_way) == ("alice", "st", 1)


def test_batch_get_by_user_pages_with_a_cursor(platform: WecomPlatform, client: WecomClient) -> None:
    made = {_customer(platform) for _ in range(5)}
    pages = list(client.iter_contacts_by_user(["alice"], limit=2))
    assert [len(p.items) for p in pages] == [2, 2, 1]
    assert {c.external_userid for p in pages for c, _ in p.items} == made


def test_an_invalid_userid_in_a_batch_is_40003(platform: WecomPlatform, client: WecomClient) -> None:
    with pytest.raises(TerminalError) as caught:
        client.batch_get_by_user(["nobody"])
    assert caught.value.errcode == 40003


def test_a_missing_userid_is_41009(platform: WecomPlatform, client: WecomClient) -> None:
    with pytest.raises(TerminalError) as caught:
        client.mark_tag(userid="", external_userid="x", add_tag=["t"])
    assert caught.value.errcode == 41009


def test_contact_way_limits(platform: WecomPlatform, client: WecomClient) -> None:
    with pytest.raises(TerminalError) as caught:
        client.add_contact_way(users=["alice"], state="s" * 31)
    assert caught.value.errcode == 40058
    with pytest.raises(TerminalError) as caught:
        client.add_contact_way(users=["alice", "bob"], state="x", type=1)
    assert caught.value.errcode == 40058
    way = client.add_contact_way(users=["alice", "bob"], state="x" * 30)
    assert way.config_id and way.qr_code.endswith(way.config_id)


def test_a_welcome_code_is_single_use(platform: WecomPlatform, client: WecomClient) -> None:
    platform.scan(CORP, "cfg")
    code = next(iter(platform.corps[CORP].welcome_codes))
    client.send_welcome_msg(welcome_code=code, text="hi")
    with pytest.raises(TerminalError) as caught:
        client.send_welcome_msg(welcome_code=code, text="again")
    assert caught.value.errcode == 41051
    with pytest.raises(TerminalError) as caught:
        client.send_welcome_msg(welcome_code="", text="x")
    assert caught.value.errcode == 41049


def test_a_customer_gets_at_most_four_mass_messages_a_month(platform: WecomPlatform, client: WecomClient) -> None:
    ext = _customer(platform)
    statuses = []
    for n in range(5):
        result = client.add_msg_template(external_userids=[ext], sender="alice", text=f"promo {n}")
        platform.confirm_mass_send(CORP, result.msgid)
        [row] = client.get_groupmsg_send_result(msgid=result.msgid, userid="alice").items
        statuses.append(row.status)
    assert statuses == [1, 1, 1, 1, 3]


def test_a_mass_message_to_a_deleted_contact_fails_with_status_2(platform: WecomPlatform, client: WecomClient) -> None:
    ext = _customer(platform)
    platform.customer_deletes(CORP, "alice", ext)
    result = client.add_msg_template(external_userids=[ext], sender="alice", text="hello")
    platform.confirm_mass_send(CORP, result.msgid)
    assert [r.status for r in client.get_groupmsg_send_result(msgid=result.msgid, userid="alice").items] == [2]


def test_moment_tasks_are_limited_to_ten_a_minute(platform: WecomPlatform, client: WecomClient) -> None:
    for n in range(10):
        assert client.add_moment_task(text=f"post {n}")
    with pytest.raises(RetryableError) as caught:
        client.add_moment_task(text="one too many")
    assert caught.value.errcode == 45009
    platform.advance(61)
    jobid = client.add_moment_task(text="later")
    assert client.get_moment_task_result(jobid=jobid).status == 3


def test_corp_tags_round_trip(platform: WecomPlatform, client: WecomClient) -> None:
    group = client.add_corp_tag(group_name="兴趣", tags=["喝茶", "咖啡", "喝茶"])
    assert [t.name for t in group.tags] == ["喝茶", "咖啡"]
    tea = group.tags[0]
    with pytest.raises(TerminalError) as caught:
        client.edit_corp_tag(id=tea.id, name="咖啡")
    assert caught.value.errcode == 40071
    client.del_corp_tag(tag_ids=[t.id for t in group.tags])
    assert client.get_corp_tag_list() == ()  # a group with no tags left is gone too


def test_group_chats_list_and_get(platform: WecomPlatform, client: WecomClient) -> None:
    ext = _customer(platform)
    chat = platform.create_chat(CORP, "alice", name="g", members=[ext])
    page = client.list_group_chats(limit=10)
    assert [c.chat_id for c in page.items] == [chat.chat_id]
    detail = client.get_group_chat(chat_id=chat.chat_id)
    assert {(m.userid, m.type) for m in detail.members} == {("alice", 1), (ext, 2)}
    with pytest.raises(TerminalError):
        client.list_group_chats(limit=0)


def test_in_service_transfer_rules(platform: WecomPlatform, client: WecomClient) -> None:
    ext = _customer(platform)
    [outcome] = client.transfer_customer(handover_userid="alice", takeover_userid="bob", external_userids=[ext])
    assert outcome.errcode == 0
    [again] = client.transfer_customer(handover_userid="alice", takeover_userid="carol", external_userids=[ext])
    assert again.errcode == 40129  # already being transferred
    [row] = client.transfer_result(handover_userid="alice", takeover_userid="bob").items
    assert row.status == 2 and row.takeover_time > 0
    with pytest.raises(TerminalError) as caught:
        client.transfer_customer(handover_userid="alice", takeover_userid="bob", external_userids=[ext], resigned=True)
    assert caught.value.errcode == 40097
    platform.corps[CORP].members["carol"].verified = False
    with pytest.raises(TerminalError) as caught:
        client.transfer_customer(handover_userid="bob", takeover_userid="carol", external_userids=[ext])
    assert caught.value.errcode == 40098


def test_network_failures_and_5xx_are_retryable() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    dead = httpx.Client(transport=httpx.MockTransport(boom))
    c = WecomClient(base_url="http://sim", corp_id=CORP, secret="s", http=dead)
    with pytest.raises(RetryableError):
        c.fetch_token()
    flaky = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(502)))
    with pytest.raises(RetryableError):
        WecomClient(base_url="http://sim", corp_id=CORP, secret="s", http=flaky).fetch_token()


def test_busy_is_retryable_and_bad_parameters_are_not() -> None:
    answers = iter([{"access_token": "T", "expires_in": 7200}, {"errcode": -1, "errmsg": "system busy"}])
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=next(answers))))
    c = WecomClient(base_url="http://sim", corp_id=CORP, secret="s", http=http, token_store=MemoryTokenStore())
    with pytest.raises(RetryableError) as caught:
        c.get_external_contact("x")
    assert caught.value.errcode == -1
