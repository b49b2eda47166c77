"""The WeCom callback POST served straight from ASGI, ahead of Django's request machinery.

A machine-to-machine endpoint with its own authentication (msg_signature) needs none of the console's middleware
(sessions, CSRF, locale, messages), and it is the one URL that takes bursts of thousands of requests a second. So
`siyu.asgi` hands `POST /channels/wecom/callback/<id>/` here, where the receipt awaits the group writer of the event
loop (many callbacks per commit); everything else, the URL verification GET included, goes to Django. Under WSGI
(runserver, the demo) the Django view serves the same URL with the same service. Both answer 413 above the one
callback body limit (authenticity.MAX_CALLBACK_BODY).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from siyu.channels.common.asgi import Receive, Scope, Send, declared_too_large, read_body, respond
from siyu.channels.wecom import inbound
from siyu.core.http import asgi_client_ip

PATH = re.compile(r"^/channels/wecom/callback/(\d{1,18})/$")


def match(scope: Scope) -> int | None:
    """The account id when this request is a callback POST this handler serves, else None."""
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return None
    found = PATH.match(scope.get("path", ""))
    return int(found.group(1)) if found else None


async def handle(scope: Scope, receive: Receive, send: Send, account_id: int) -> None:
    body = None if declared_too_large(scope) else await read_body(receive)
    if body is None:
        await respond(send, 413, "request body too large")
        return
    query = dict(parse_qsl(scope.get("query_string", b"").decode("utf-8", errors="replace"), keep_blank_values=True))
    ack = await inbound.areceive(account_id=account_id, query=query, body=body, source=asgi_client_ip(scope))
    await respond(send, ack.status, ack.body)
