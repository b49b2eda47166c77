"""The callback intake: stored before acked, many callers per commit, one processing task per batch, and the ASGI
fast path that `siyu serve` puts in front of Django."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest
from django_tasks_db.models import DBTaskResult

from simulator.wecom import ContactWayState, PendingCallback
from siyu.channels import services as channel_services
from siyu.channels.common.crypto import MessageCrypto
from siyu.channels.common.groupcommit import GroupCommitter
from siyu.channels.models import AccountKind, CallbackStatus, ChannelAccount, InboundCallback
from siyu.channels.wecom import inbound
from siyu.channels.wecom.models import ChannelCode
from siyu.customers.models import Customer
from tests.channels.wecom.conftest import AES_KEY, CORP_ID, TOKEN, Wecom
from tests.conftest import Org

pytestmark = pytest.mark.django_db(transaction=True)


def _run(coroutine: Any) -> Any:
    """asyncio.run on a thread of its own: the browser tests' Playwright keeps an event loop running on this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(autouse=True)
def _no_cached_accounts() -> None:
    inbound._ACCOUNTS.clear()


def _signed(count: int, offset: int = 0) -> list[tuple[dict[str, str], bytes]]:
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID)
    out = []
    sent = int(time.time())  # the envelope's timestamp: within Siyu's ±300 s window
    for i in range(offset, offset + count):
        plain = (
            f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>sys</FromUserName><CreateTime>{1700000000 + i}"
            "</CreateTime><MsgType>event</MsgType><Event>change_external_contact</Event><ChangeType>del_follow_user"
            f"</ChangeType><UserID>nobody</UserID><ExternalUserID>wm{i:08d}</ExternalUserID></xml>"
        )
        ciphertext = crypto.encrypt(plain)
        ts, nonce = str(sent), str(5000 + i)
        body = f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>".encode()
        out.append(({"msg_signature": crypto.sign(ts, nonce, ciphertext), "timestamp": ts, "nonce": nonce}, body))
    return out


def _account(org: Org) -> ChannelAccount:
    return channel_services.ensure_account(
        enterprise_id=org.enterprise.pk, kind=AccountKind.WECOM, name="intake", app_id=CORP_ID, secret="s",
        token=TOKEN, encoding_aes_key=AES_KEY, base_url="http://127.0.0.1:9/wecom",
    )


def _queued_ids() -> list[int]:
    ids: list[int] = []
    for args in DBTaskResult.objects.values_list("args_kwargs", flat=True):
        ids.extend(args["args"][0])
    return ids


def test_concurrent_callers_are_all_stored_before_their_ack_and_each_queued_once(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = _account(org)
    committed: set[str] = set()
    real_flush = inbound._INTAKE.flush

    def flush_and_note(items: Sequence[inbound.Received]) -> Sequence[None]:
        results = real_flush(items)  # returns after the commit
        committed.update(item.query["nonce"] for item in items)
        return results

    monkeypatch.setattr(inbound._INTAKE, "flush", flush_and_note)
    acked: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def deliver(item: tuple[dict[str, str], bytes]) -> None:
        ack = inbound.receive(account_id=account.pk, query=item[0], body=item[1])
        with lock:
            acked.append((ack.status, item[0]["nonce"] in committed))

    threads = [threading.Thread(target=deliver, args=(item,)) for item in _signed(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert acked == [(200, True)] * 40  # every 200 came after its row's commit
    stored = sorted(InboundCallback.objects.filter(status=CallbackStatus.RECEIVED).values_list("id", flat=True))
    assert len(stored) == 40
    assert sorted(_queued_ids()) == stored  # every stored callback in exactly one processing task
    assert DBTaskResult.objects.count() <= 40


def test_async_callers_in_flight_together_share_one_batch() -> None:
    batches: list[list[int]] = []

    def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [item * 2 for item in items]

    committer: GroupCommitter[int, int] = GroupCommitter("test-async", flush)

    async def burst() -> list[int]:
        return list(await asyncio.gather(*(committer.asubmit(i) for i in range(100))))

    assert _run(burst()) == [i * 2 for i in range(100)]
    assert sorted(i for batch in batches for i in batch) == list(range(100))
    assert len(batches) == 1  # all 100 had queued before the writer took its first batch


@pytest.mark.django_db(transaction=False)
def test_a_failed_batch_fails_its_callers_and_the_next_batch_is_written() -> None:
    calls: list[list[str]] = []

    def flush(items: Sequence[str]) -> list[str]:
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return [f"ok:{item}" for item in items]

    committer: GroupCommitter[str, str] = GroupCommitter("test-fail", flush)
    outcome: list[Any] = []

    def in_thread(item: str) -> None:  # outside the test's transaction, so the writer thread is used
        try:
            outcome.append(committer.submit(item))
        except RuntimeError as exc:
            outcome.append(exc)

    for item in ("a", "b"):
        worker = threading.Thread(target=in_thread, args=(item,))
        worker.start()
        worker.join()
    assert isinstance(outcome[0], RuntimeError)
    assert outcome[1] == "ok:b"

    async def twice() -> list[Any]:
        calls.clear()
        results: list[Any] = []
        for item in ("c", "d"):
            try:
                results.append(await committer.asubmit(item))
            except RuntimeError as exc:
                results.append(exc)
        return results

    first, second = _run(twice())
    assert isinstance(first, RuntimeError)
    assert second == "ok:d"


def _add_pending(w: Wecom, config_id: str, state: str) -> PendingCallback:
    ChannelCode.objects.create(enterprise=w.org.enterprise, account=w.account, name=state, state=state)
    w.platform.corps[CORP_ID].contact_ways[config_id] = ContactWayState(config_id, 2, 2, ["n1_staff"], state)
    w.platform.scan(CORP_ID, config_id)
    [pending] = w.platform.take_outbox()
    return pending


def _asgi(method: str, path: str, query: dict[str, str], body: bytes, chunk: int = 0) -> tuple[int, bytes]:
    from siyu.asgi import application

    parts = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": urlencode(query).encode(), "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"text/xml")], "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected until the response is sent
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    _run(application(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_the_asgi_fast_path_stores_and_processes_a_scan_and_rejects_a_forgery(wecom: Wecom) -> None:
    path = f"/channels/wecom/callback/{wecom.account.pk}/"
    first = _add_pending(wecom, "cfg1", "s1")
    assert _asgi("POST", path, first.params, first.body) == (200, b"")  # account not cached yet: the plain path
    second = _add_pending(wecom, "cfg2", "s2")
    assert _asgi("POST", path, second.params, second.body, chunk=64) == (200, b"")  # cached: the async batch path
    forged = {**second.params, "msg_signature": "f" * 40}
    assert _asgi("POST", path, forged, second.body)[0] == 403
    rows = list(InboundCallback.objects.order_by("id").values_list("status", "event"))
    assert rows == [
        (CallbackStatus.PROCESSED, "change_external_contact/add_external_contact"),
        (CallbackStatus.PROCESSED, "change_external_contact/add_external_contact"),
        (CallbackStatus.REJECTED, ""),
    ]
    assert Customer.objects.count() == 2


def test_the_asgi_fast_path_refuses_an_oversized_body_and_leaves_the_rest_to_django(wecom: Wecom) -> None:
    path = f"/channels/wecom/callback/{wecom.account.pk}/"
    status, _body = _asgi("POST", path, {"msg_signature": "x"}, b"<xml>" + b"a" * (1024 * 1024) + b"</xml>")
    assert status == 413
    assert InboundCallback.objects.count() == 0
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID)
    echostr = crypto.encrypt("4075181314397890557")
    ts = str(int(time.time()))
    query = {"msg_signature": crypto.sign(ts, "2", echostr), "timestamp": ts, "nonce": "2", "echostr": echostr}
    assert _asgi("GET", path, query, b"") == (200, b"4075181314397890557")  # URL verification: Django's view
