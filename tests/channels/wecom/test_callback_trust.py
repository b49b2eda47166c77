"""Callback authenticity on every WeCom path: the timestamp window, the replay cache, the body limit, redaction in the
log, and the bound on what refused requests may store. Pushes are signed and encrypted with wechatpy (an independent
implementation), not with Siyu's own crypto."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from defusedxml.ElementTree import fromstring
from django.db.models import Count, Sum
from wechatpy.enterprise.crypto import WeChatCrypto

from simulator.wecom import ContactWayState, PendingCallback
from siyu.channels import services as channel_services
from siyu.channels.common.authenticity import MAX_CALLBACK_BODY
from siyu.channels.intake import REFUSALS_STORED_PER_MINUTE
from siyu.channels.models import CallbackStatus, InboundCallback, RefusalTally
from siyu.channels.wecom import inbound
from siyu.channels.wecom.models import ChannelCode, ChannelCodeDay
from siyu.core.timeutil import now
from siyu.customers.models import Customer
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, TOKEN, Wecom
from tests.channels.wecom.test_intake import _asgi

pytestmark = pytest.mark.django_db(transaction=True)

DELETE_EVENT = (
    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[del_follow_user]]></ChangeType>"
    "<UserID><![CDATA[nobody]]></UserID><ExternalUserID><![CDATA[wm{n:08d}]]></ExternalUserID></xml>"
)


@pytest.fixture(autouse=True)
def _no_cached_accounts() -> None:
    inbound._ACCOUNTS.clear()


def _push(n: int, *, timestamp: int | None = None, nonce: str = "") -> tuple[dict[str, str], bytes]:
    """One callback as the platform sends it, sealed by wechatpy."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(900000 + n)
    sealed = WeChatCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message(DELETE_EVENT.format(corp=CORP_ID, ts=ts, n=n),
                                                                    nonce, ts)
    root = fromstring(sealed.encode())
    body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
            f"<Encrypt><![CDATA[{root.findtext('Encrypt')}]]></Encrypt></xml>").encode()
    return {"msg_signature": root.findtext("MsgSignature") or "", "timestamp": ts, "nonce": nonce}, body


def _post(w: Wecom, query: dict[str, str], body: bytes, **extra: str) -> int:
    url = f"/channels/wecom/callback/{w.account.pk}/?{urlencode(query)}"
    return w.client.post(url, data=body, content_type="text/xml", **extra).status_code  # type: ignore[arg-type]


def _add_callback(w: Wecom) -> PendingCallback:
    ChannelCode.objects.create(enterprise=w.org.enterprise, account=w.account, name="x", state="s1")
    w.platform.corps[CORP_ID].contact_ways["cfg1"] = ContactWayState("cfg1", 2, 2, ["n1_staff"], "s1")
    w.platform.scan(CORP_ID, "cfg1")
    [pending] = w.platform.take_outbox()
    return pending


# -- replay cache ---------------------------------------------------------------------------------------------------


def test_the_same_request_delivered_again_is_acknowledged_and_processed_once(wecom: Wecom) -> None:
    pending = _add_callback(wecom)
    assert wecom.post(pending) == 200
    assert wecom.post(pending) == 200  # the platform's retry: the same timestamp, nonce and body
    assert wecom.post(pending) == 200
    assert list(InboundCallback.objects.values_list("status", flat=True)) == [CallbackStatus.PROCESSED]
    assert Customer.objects.count() == 1


def test_concurrent_copies_of_one_request_through_the_group_writer_store_one_row(wecom: Wecom) -> None:
    query, body = _push(1)
    statuses: list[int] = []

    def deliver() -> None:
        ack = inbound.receive(account_id=wecom.account.pk, query=query, body=body)
        statuses.append(ack.status)

    threads = [threading.Thread(target=deliver) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12
    assert InboundCallback.objects.count() == 1


def test_a_batch_holding_a_replay_stores_and_queues_only_the_new_requests(wecom: Wecom) -> None:
    def received(n: int) -> inbound.Received:
        return inbound.Received(account_id=wecom.account.pk, query={"nonce": str(n)}, body="<xml/>",
                                plaintext="<xml/>", replay_key=f"{int(time.time()):010d}:{wecom.account.pk}:{n}")

    queued: list[list[int]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inbound, "_enqueue", queued.append)
        inbound.store_received([received(1)])
        inbound.store_received([received(1), received(2), received(2), received(3)])
    rows = {row.query["nonce"]: row.pk for row in InboundCallback.objects.all()}
    assert len(rows) == 3
    assert [sorted(batch) for batch in queued] == [[rows["1"]], sorted([rows["2"], rows["3"]])]


def test_the_replay_cache_holds_on_the_asgi_fast_path(wecom: Wecom) -> None:
    path = f"/channels/wecom/callback/{wecom.account.pk}/"
    warm_query, warm_body = _push(2)
    assert _asgi("POST", path, warm_query, warm_body) == (200, b"")  # uncached account: the plain path
    assert _asgi("POST", path, warm_query, warm_body) == (200, b"")  # cached: the async group writer
    query, body = _push(3)
    assert _asgi("POST", path, query, body) == (200, b"")
    assert _asgi("POST", path, query, body) == (200, b"")
    assert InboundCallback.objects.count() == 2


def test_replay_keys_older_than_the_window_are_pruned_by_the_periodic_job(wecom: Wecom) -> None:
    old_query, old_body = _push(4, timestamp=int(time.time()) - 200)
    new_query, new_body = _push(5)
    assert _post(wecom, old_query, old_body) == _post(wecom, new_query, new_body) == 200
    later = now() + timedelta(seconds=150)  # the first request is now 350 s old: it can never be accepted again
    channel_services.prune_callback_records(at=later)
    keys = {row.query["nonce"]: row.replay_key for row in InboundCallback.objects.all()}
    assert keys[old_query["nonce"]] is None
    assert keys[new_query["nonce"]] is not None


# -- timestamp window -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_a_timestamp_more_than_300_s_away_is_refused_on_the_view(wecom: Wecom, offset: int,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = float(int(time.time()))  # the product's clock held still: +301 s stays 301 s however slow the request
    monkeypatch.setattr(inbound, "time", SimpleNamespace(time=lambda: fixed, monotonic=time.monotonic))
    query, body = _push(6, timestamp=int(fixed) + offset)
    assert _post(wecom, query, body) == 403
    row = InboundCallback.objects.get()
    assert (row.status, row.signature_ok) == (CallbackStatus.REJECTED, True)
    assert "timestamp" in row.error


def test_a_timestamp_within_300_s_is_accepted(wecom: Wecom, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = float(int(time.time()))  # held still, as above
    monkeypatch.setattr(inbound, "time", SimpleNamespace(time=lambda: fixed, monotonic=time.monotonic))
    query, body = _push(7, timestamp=int(fixed) - 290)
    assert _post(wecom, query, body) == 200
    assert InboundCallback.objects.get().status == CallbackStatus.IGNORED  # accepted; nobody known to delete


def test_a_stale_timestamp_is_refused_on_both_asgi_paths(wecom: Wecom, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = float(int(time.time()))  # the product's clock held still: 301 s stays 301 s however slow the request
    monkeypatch.setattr(inbound, "time", SimpleNamespace(time=lambda: fixed, monotonic=time.monotonic))
    path = f"/channels/wecom/callback/{wecom.account.pk}/"
    stale = _push(8, timestamp=int(fixed) - 301)
    assert _asgi("POST", path, *stale)[0] == 403  # uncached account: the plain path on a thread
    assert _asgi("POST", path, *_push(9, timestamp=int(fixed))) == (200, b"")  # caches the account
    assert _asgi("POST", path, *_push(10, timestamp=int(fixed) - 301))[0] == 403  # the async path
    assert _asgi("POST", path, *_push(11, timestamp=int(fixed) + 301))[0] == 403
    statuses = sorted(InboundCallback.objects.values_list("status", flat=True))
    assert statuses == [CallbackStatus.IGNORED] + [CallbackStatus.REJECTED] * 3


def test_url_verification_refuses_a_stale_timestamp(wecom: Wecom) -> None:
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    fresh, stale = str(int(time.time())), str(int(time.time()) - 301)
    for ts, expected in ((stale, 403), (fresh, 200)):
        sealed = fromstring(crypto.encrypt_message("4075181314397890557", "846958211", ts).encode())
        query = {"msg_signature": sealed.findtext("MsgSignature"), "timestamp": ts, "nonce": "846958211",
                 "echostr": sealed.findtext("Encrypt")}
        response = wecom.client.get(f"/channels/wecom/callback/{wecom.account.pk}/?{urlencode(query)}")
        assert response.status_code == expected
    assert response.content == b"4075181314397890557"


# -- body limit -----------------------------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_on_the_wsgi_view(wecom: Wecom) -> None:
    query, _body = _push(12)
    assert MAX_CALLBACK_BODY == 1024 * 1024
    oversized = b"<xml><Encrypt>" + b"a" * (MAX_CALLBACK_BODY + 1 - 30) + b"</Encrypt></xml>"
    assert len(oversized) == MAX_CALLBACK_BODY + 1
    assert _post(wecom, query, oversized) == 413
    assert _post(wecom, query, oversized[: MAX_CALLBACK_BODY]) != 413  # at the limit: read, then refused as forged
    assert InboundCallback.objects.count() == 1


def test_a_body_over_the_limit_is_413_on_the_asgi_fast_path(wecom: Wecom) -> None:
    path = f"/channels/wecom/callback/{wecom.account.pk}/"
    query, _body = _push(13)
    oversized = b"<xml>" + b"a" * (MAX_CALLBACK_BODY + 1 - 11) + b"</xml>"
    assert len(oversized) == MAX_CALLBACK_BODY + 1
    assert _asgi("POST", path, query, oversized, chunk=65536)[0] == 413
    assert _asgi("POST", path, query, oversized[:MAX_CALLBACK_BODY], chunk=65536)[0] != 413
    assert InboundCallback.objects.count() == 1


# -- what the log keeps ---------------------------------------------------------------------------------------------


def test_signatures_and_echostr_are_not_kept_in_the_callback_log(wecom: Wecom) -> None:
    query, body = _push(14)
    assert _post(wecom, query, body) == 200
    forged = {**query, "msg_signature": "f" * 40}
    assert _post(wecom, forged, body) == 403
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    sealed = fromstring(crypto.encrypt_message("123", "5", query["timestamp"]).encode())
    echo = {"msg_signature": sealed.findtext("MsgSignature") or "", "timestamp": query["timestamp"], "nonce": "5",
            "echostr": sealed.findtext("Encrypt") or ""}
    assert wecom.client.get(f"/channels/wecom/callback/{wecom.account.pk}/?{urlencode(echo)}").status_code == 200
    stored = [row.query for row in InboundCallback.objects.order_by("id")]
    assert len(stored) == 3
    secrets = {query["msg_signature"], forged["msg_signature"], echo["msg_signature"], echo["echostr"]}
    for params in stored:
        assert not secrets & set(params.values()), params
        assert params["timestamp"] == query["timestamp"]
    api_text = str(list(InboundCallback.objects.values()))
    assert not any(secret in api_text for secret in secrets)


def test_a_flood_of_forged_posts_stores_at_most_the_bound_and_counts_the_rest(wecom: Wecom) -> None:
    query, body = _push(15)
    forged = {**query, "msg_signature": "0" * 40}
    for _ in range(1000):
        assert _post(wecom, forged, body, REMOTE_ADDR="203.0.113.7") == 403
    for _ in range(30):
        assert _post(wecom, forged, body, REMOTE_ADDR="198.51.100.2") == 403
    stored = dict(InboundCallback.objects.values_list("source").annotate(n=Count("id")))
    minutes = dict(RefusalTally.objects.values_list("source").annotate(n=Count("id")))  # 1, or 2 across a minute
    for source in ("203.0.113.7", "198.51.100.2"):
        assert 1 <= stored[source] <= REFUSALS_STORED_PER_MINUTE * minutes[source]
    counted = dict(RefusalTally.objects.values_list("source").annotate(n=Sum("refused")))
    assert counted == {"203.0.113.7": 1000, "198.51.100.2": 30}
    assert wecom.org.hq.user is not None
    wecom.client.force_login(wecom.org.hq.user)
    page = wecom.client.get("/channels/").content.decode()
    line = page[page.index('id="refusals"'):].split("</p>")[0].replace(",", "")
    not_stored = 1030 - InboundCallback.objects.count()
    assert "1030" in line and str(not_stored) in line


def test_unknown_accounts_share_one_bound_whatever_the_id(wecom: Wecom) -> None:
    for account_id in range(900000, 900200):
        response = wecom.client.post(f"/channels/wecom/callback/{account_id}/?msg_signature=x", data=b"<xml/>",
                                     content_type="text/xml")
        assert response.status_code == 404
    assert InboundCallback.objects.count() <= REFUSALS_STORED_PER_MINUTE * RefusalTally.objects.count()
    assert RefusalTally.objects.aggregate(n=Sum("refused"))["n"] == 200


# -- channel-code landing scans -------------------------------------------------------------------------------------


def test_a_second_scan_by_the_same_visitor_on_the_same_day_does_not_count(
    wecom: Wecom, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = ChannelCode.objects.create(enterprise=wecom.org.enterprise, account=wecom.account, name="c", state="s",
                                      config_id="cfgscan")
    phone_a = {"REMOTE_ADDR": "203.0.113.20", "HTTP_USER_AGENT": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.40"}
    phone_b = {"REMOTE_ADDR": "203.0.113.20", "HTTP_USER_AGENT": "Mozilla/5.0 (Linux; Android 14) MicroMessenger"}
    for headers in (phone_a, phone_a, phone_a, phone_b, phone_b):
        assert wecom.client.get("/channels/wecom/qr/cfgscan/", **headers).status_code == 200  # type: ignore[arg-type]
    assert ChannelCodeDay.objects.get(code=code).scans == 2
    tomorrow = now() + timedelta(days=1)
    monkeypatch.setattr("siyu.channels.wecom.channel_codes.now", lambda: tomorrow)
    assert wecom.client.get("/channels/wecom/qr/cfgscan/", **phone_a).status_code == 200  # type: ignore[arg-type]
    assert sorted(ChannelCodeDay.objects.filter(code=code).values_list("scans", flat=True)) == [1, 2]
