"""WeCom callback intake on one process, against the bare message crypto, in one run:

  (a) baseline: verify msg_signature and AES-decrypt each callback (MessageCrypto.verify_and_decrypt), nothing else;
  (b) the service: `wecom.inbound.receive` (account lookup, verify, decrypt, XML parse, dedupe key, the
      raw InboundCallback row and its processing task committed on the database task backend before it returns),
      once with one caller at a time, once with --threads concurrent callers (a WSGI server's request threads), and
      with 64 and --in-flight callbacks in flight on one event loop (`areceive_callback`, what the ASGI endpoint of
      `siyu serve` awaits): the group writer then commits many callbacks per transaction, one task per batch;
  (c) the same through Django's full request stack (the callback view via the test client, in-process WSGI, one
      request at a time).

Every callback is a distinct add_external_contact event, encrypted and signed before the clock starts, with its own
nonce and the current time as its timestamp (Siyu refuses timestamps more than 300 s away, so each run's callbacks
are made just before it). Each is stored once: the replay cache is the unique (account, timestamp, nonce) key on
the raw row, checked by the same INSERT (ON CONFLICT DO NOTHING).

    siyu bench callbacks --callbacks 5000
    python bench/callbacks.py --callbacks 20000 --threads 16 [--database-url postgres://.../siyu_bench_callbacks]

Targets (TARGETS.md): >= 1,000 callbacks/s and >= 30% of the bare crypto rate.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, report, setup_django  # noqa: E402

CORP = "wwbenchcorp0001"
TOKEN = "benchToken"  # noqa: S105 - a benchmark credential
AES_KEY = "YmVuY2htYXJrYmVuY2htYXJrYmVuY2htYXJrYmVuY2g"


def _callbacks(count: int, offset: int) -> list[tuple[dict[str, str], bytes]]:
    from siyu.channels.common.crypto import MessageCrypto

    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP)
    out = []
    sent = str(int(time.time()))
    for i in range(offset, offset + count):
        plain = (
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{1700000000 + i}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
            f"<UserID><![CDATA[staff{i % 50}]]></UserID><ExternalUserID><![CDATA[wmbench{i:010d}]]></ExternalUserID>"
            f"<State><![CDATA[bench]]></State><WelcomeCode><![CDATA[WC{i:012d}]]></WelcomeCode></xml>"
        )
        ciphertext = crypto.encrypt(plain)
        ts, nonce = sent, str(100000 + i)
        body = (
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
            f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
        ).encode()
        out.append(({"msg_signature": crypto.sign(ts, nonce, ciphertext), "timestamp": ts, "nonce": nonce}, body))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=16, help="concurrent callers for the burst figure")
    parser.add_argument("--in-flight", type=int, default=256, help="callbacks in flight for the async figure")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    fresh_database("callbacks", args.database_url or None)
    setup_django()

    from django.test import Client
    from django_tasks_db.models import DBTaskResult

    from siyu.channels import services as channel_services
    from siyu.channels.common.crypto import MessageCrypto
    from siyu.channels.wecom import inbound
    from siyu.channels.wecom.callbacks import parse_envelope
    from siyu.org.models import Enterprise

    enterprise = Enterprise.objects.create(name="Bench", code="bench-callbacks")
    account = channel_services.ensure_account(
        enterprise_id=enterprise.pk, kind="wecom", name="bench", app_id=CORP, token=TOKEN,
        encoding_aes_key=AES_KEY, base_url="http://127.0.0.1:9/wecom", secret="x",  # noqa: S106
    )
    n = args.callbacks
    service_batch = _callbacks(n, 0)
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP)

    start = time.perf_counter()
    for query, body in service_batch:
        encrypted = parse_envelope(body).encrypt
        crypto.verify_and_decrypt(query["msg_signature"], query["timestamp"], query["nonce"], encrypted)
    crypto_s = time.perf_counter() - start

    def deliver(item: tuple[dict[str, str], bytes]) -> None:
        ack = inbound.receive(account_id=account.pk, query=item[0], body=item[1])
        if ack.status != 200:
            raise SystemExit(f"callback refused: {ack}")

    start = time.perf_counter()
    for item in service_batch:
        deliver(item)
    service_s = time.perf_counter() - start

    burst_batch = _callbacks(n, n)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        for _ in pool.map(deliver, burst_batch):
            pass
    burst_s = time.perf_counter() - start

    async_rates = {
        in_flight: n / asyncio.run(_deliver_async(account.pk, _callbacks(n, (2 + k) * n), in_flight))
        for k, in_flight in enumerate((64, args.in_flight))
    }
    http_batch = _callbacks(max(1, n // 5), 4 * n)

    client = Client()
    url = f"/channels/wecom/callback/{account.pk}/"
    start = time.perf_counter()
    for query, body in http_batch:
        response = client.post(f"{url}?{urlencode(query)}", data=body, content_type="text/xml")
        if response.status_code != 200:
            raise SystemExit(f"callback refused over HTTP: {response.status_code}")
    http_s = time.perf_counter() - start

    _check_every_callback_stored_and_enqueued((2 + len(async_rates)) * n + len(http_batch))
    tasks = DBTaskResult.objects.count()
    crypto_rate, service_rate, burst_rate = n / crypto_s, n / service_s, n / burst_s
    http_rate = len(http_batch) / http_s
    report(
        "callbacks",
        [
            ("callbacks (each service run / HTTP)", f"{n:,} / {len(http_batch):,}"),
            ("bare crypto (verify + decrypt)", f"{crypto_rate:,.0f}/s"),
            ("service, one caller at a time", _rate(service_rate, crypto_rate)),
            (f"service, {args.threads} concurrent callers", _rate(burst_rate, crypto_rate)),
            *(
                (f"service, async, {k} in flight", _rate(rate, crypto_rate))
                for k, rate in async_rates.items()
            ),
            ("HTTP view (Django stack, one at a time)", _rate(http_rate, crypto_rate)),
            ("processing tasks enqueued", f"{tasks:,} (one per committed batch)"),
        ],
        {
            "crypto_callbacks_per_s": crypto_rate,
            "service_callbacks_per_s": service_rate,
            "service_concurrent_callbacks_per_s": burst_rate,
            "http_callbacks_per_s": http_rate,
            **{f"service_async_{k}_in_flight_callbacks_per_s": rate for k, rate in async_rates.items()},
        },
        {
            "service_callbacks_per_s_vs_crypto": service_rate / crypto_rate,
            "service_concurrent_callbacks_per_s_vs_crypto": burst_rate / crypto_rate,
            "http_callbacks_per_s_vs_crypto": http_rate / crypto_rate,
            **{
                f"service_async_{k}_in_flight_callbacks_per_s_vs_crypto": rate / crypto_rate
                for k, rate in async_rates.items()
            },
        },
    )


def _rate(rate: float, crypto_rate: float) -> str:
    return f"{rate:,.0f}/s  ({rate / crypto_rate:.1%} of crypto)"


async def _deliver_async(account_id: int, batch: list[tuple[dict[str, str], bytes]], in_flight: int) -> float:
    """`in_flight` callers on one event loop, each taking the next callback as soon as its last one is acked."""
    from siyu.channels.wecom import inbound

    pending = iter(batch)

    async def caller() -> None:
        for query, body in pending:
            ack = await inbound.areceive(account_id=account_id, query=query, body=body)
            if ack.status != 200:
                raise SystemExit(f"callback refused: {ack}")

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return time.perf_counter() - start


def _check_every_callback_stored_and_enqueued(expected: int) -> None:
    from django_tasks_db.models import DBTaskResult

    from siyu.channels.models import InboundCallback

    stored = set(InboundCallback.objects.filter(status="received").values_list("id", flat=True))
    queued: set[int] = set()
    for args in DBTaskResult.objects.values_list("args_kwargs", flat=True):
        queued.update(args["args"][0])
    if len(stored) != expected or queued != stored:
        raise SystemExit(f"expected {expected} callbacks stored and queued, found {len(stored)} and {len(queued)}")


if __name__ == "__main__":
    main()
