"""The WeCom callback POST served straight from ASGI, ahead of Django's request machinery.

A machine-to-machine endpoint with its own authentication (msg_signature) needs none of the console's middleware
(sessions, CSRF, locale, messages), and it is the one URL that takes bursts of thousands of requests a second. So
`siyu.asgi` hands `POST /channels/wecom/callback/<id>/` here, where the receipt awaits the group writer of the event
loop (many callbacks per commit); everything else, the URL verification GET included, goes to Django. Under WSGI
(runserver, the demo) the Django view serves the same URL with the same service.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from siyu.channels.wecom import services

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PATH = re.compile(r"^/channels/wecom/callback/(\d{1,18})/$")
MAX_REQUEST_BODY = 1024 * 1024


def match(scope: Scope) -> int | None:
    """The account id when this request is a callback POST this handler serves, else None."""
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return None
    found = PATH.match(scope.get("path", ""))
    return int(found.group(1)) if found else None


async def handle(scope: Scope, receive: Receive, send: Send, account_id: int) -> None:
    body = await _read_body(receive)
    if body is None:
        await _respond(send, 413, "request body too large")
        return
    query = dict(parse_qsl(scope.get("query_string", b"").decode("utf-8", errors="replace"), keep_blank_values=True))
    ack = await services.areceive_callback(account_id=account_id, query=query, body=body)
    await _respond(send, ack.status, ack.body)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, text: str) -> None:
    payload = text.encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(payload)).encode())],
    })
    await send({"type": "http.response.body", "body": payload})
