"""WeCom callback intake on one process, against the bare message crypto, in one run:

  (a) baseline: verify msg_signature and AES-decrypt each callback (MessageCrypto.verify_and_decrypt), nothing else;
  (b) the service: `wecom.services.receive_callback` (account lookup, verify, decrypt, XML parse, dedupe key, the
      raw InboundCallback row, and the processing task enqueued on the database task backend);
  (c) the same through Django's full request stack (the callback view via the test client, in-process WSGI).

Every callback is a distinct add_external_contact event, encrypted and signed before the clock starts.

    siyu bench callbacks --callbacks 5000
    python bench/callbacks.py --callbacks 20000 [--database-url postgres://.../siyu_bench_callbacks]

Targets (TARGETS.md): >= 1,000 callbacks/s and >= 30% of the bare crypto rate.
"""

from __future__ import annotations

import argparse
import sys
import time
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
    for i in range(offset, offset + count):
        plain = (
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{1700000000 + i}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
            f"<UserID><![CDATA[staff{i % 50}]]></UserID><ExternalUserID><![CDATA[wmbench{i:010d}]]></ExternalUserID>"
            f"<State><![CDATA[bench]]></State><WelcomeCode><![CDATA[WC{i:012d}]]></WelcomeCode></xml>"
        )
        ciphertext = crypto.encrypt(plain)
        ts, nonce = str(1700000000 + i), str(100000 + i)
        body = (
            f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID>"
            f"<Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
        ).encode()
        out.append(({"msg_signature": crypto.sign(ts, nonce, ciphertext), "timestamp": ts, "nonce": nonce}, body))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callbacks", type=int, default=5000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    fresh_database("callbacks", args.database_url or None)
    setup_django()

    from django.test import Client
    from django_tasks_db.models import DBTaskResult

    from siyu.channels import services as channel_services
    from siyu.channels.common.crypto import MessageCrypto
    from siyu.channels.models import InboundCallback
    from siyu.channels.wecom import services
    from siyu.channels.wecom.callbacks import parse_envelope
    from siyu.org.models import Enterprise

    enterprise = Enterprise.objects.create(name="Bench", code="bench-callbacks")
    account = channel_services.ensure_account(
        enterprise_id=enterprise.pk, kind="wecom", name="bench", app_id=CORP, token=TOKEN,
        encoding_aes_key=AES_KEY, base_url="http://127.0.0.1:9/wecom", secret="x",  # noqa: S106
    )
    n = args.callbacks
    service_batch = _callbacks(n, 0)
    http_batch = _callbacks(max(1, n // 5), n)
    crypto = MessageCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP)

    start = time.perf_counter()
    for query, body in service_batch:
        encrypted = parse_envelope(body).encrypt
        crypto.verify_and_decrypt(query["msg_signature"], query["timestamp"], query["nonce"], encrypted)
    crypto_s = time.perf_counter() - start

    start = time.perf_counter()
    for query, body in service_batch:
        ack = services.receive_callback(account_id=account.pk, query=query, body=body)
        if ack.status != 200:
            raise SystemExit(f"callback refused: {ack}")
    service_s = time.perf_counter() - start

    client = Client()
    url = f"/channels/wecom/callback/{account.pk}/"
    start = time.perf_counter()
    for query, body in http_batch:
        response = client.post(f"{url}?{urlencode(query)}", data=body, content_type="text/xml")
        if response.status_code != 200:
            raise SystemExit(f"callback refused over HTTP: {response.status_code}")
    http_s = time.perf_counter() - start

    stored = InboundCallback.objects.count()
    queued = DBTaskResult.objects.count()
    if stored != n + len(http_batch) or queued != stored:
        raise SystemExit(f"expected {n + len(http_batch)} rows and tasks, found {stored} and {queued}")
    crypto_rate, service_rate, http_rate = n / crypto_s, n / service_s, len(http_batch) / http_s
    report(
        "callbacks",
        [
            ("callbacks (service / HTTP)", f"{n:,} / {len(http_batch):,}"),
            ("bare crypto (verify + decrypt)", f"{crypto_rate:,.0f}/s"),
            ("service (verify, decrypt, store, enqueue)", f"{service_rate:,.0f}/s"),
            ("HTTP view (Django stack)", f"{http_rate:,.0f}/s"),
            ("service vs bare crypto", f"{service_rate / crypto_rate:.1%}"),
        ],
        {
            "crypto_callbacks_per_s": crypto_rate,
            "service_callbacks_per_s": service_rate,
            "http_callbacks_per_s": http_rate,
        },
        {
            "service_callbacks_per_s_vs_crypto": service_rate / crypto_rate,
            "http_callbacks_per_s_vs_crypto": http_rate / crypto_rate,
        },
    )


if __name__ == "__main__":
    main()
