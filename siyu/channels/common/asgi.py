"""Callback bodies under ASGI: read up to the one callback limit (authenticity.MAX_CALLBACK_BODY), 413 above it.

Django's ASGI handler spools any request body to a temporary file before a view sees it, whatever its size; the
callback URLs are unauthenticated and take bursts, so `siyu.asgi` reads their bodies here first: a declared or
streamed length over the limit is answered 413 without reading further, and a body within it is handed on (to the
WeCom fast path, or replayed to Django for the Official Account's view).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from siyu.channels.common.authenticity import MAX_CALLBACK_BODY, too_large

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[..., Awaitable[None]]

CALLBACK_PATHS = re.compile(r"^/(channels/wecom/callback|oa/callback)/\d{1,18}/$")


def is_callback(scope: Scope) -> bool:
    return scope.get("type") == "http" and bool(CALLBACK_PATHS.match(scope.get("path", "")))


def declared_too_large(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            return too_large(value.decode("latin-1"))
    return False


async def read_body(receive: Receive) -> bytes | None:
    """The whole body, or None as soon as it exceeds the limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_CALLBACK_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(send: Send, status: int, text: str) -> None:
    payload = text.encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(payload)).encode())],
    })
    await send({"type": "http.response.body", "body": payload})


async def limited(scope: Scope, receive: Receive, send: Send, app: App) -> None:
    """Pass a callback request to `app` with its body read (and bounded) first."""
    if declared_too_large(scope):
        await respond(send, 413, "request body too large")
        return
    body = await read_body(receive)
    if body is None:
        await respond(send, 413, "request body too large")
        return
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    await app(scope, replay, send)
