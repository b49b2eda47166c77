"""Creates with an effect outside Siyu, answered once per client key (siyu.core.idempotency).

A handler names the action and whose it is (the shopper or the staff member: one client's keys never meet
another's), gives its input, a `create(key)` that calls its one service, and a `render(id)`. The key is stored with
the effect; a repeat with the same key and the same input gets the same answer (the same status, and the same row
rendered: identical unless the row has moved on since, as an order that was paid meanwhile), the same key with other
input is a 409, and no key is a 400 naming the header.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest
from ninja import Schema, Status

from siyu.core.idempotency import KEY_HEADER, MAX_KEY, answer_once, client_key, fingerprint

#: The header in the OpenAPI document of every route that answers through `create_once` (`openapi_extra=`): the body's
#: `idempotency_key` may stand in for it, so it is not marked required; a create with neither is a 400.
KEY_HEADER_DOC: dict[str, Any] = {"parameters": [{
    "in": "header", "name": KEY_HEADER, "required": False,
    "description": f"A key of the client's choosing (at most {MAX_KEY} characters): a repeat with the same key and "
                   "the same input gets the first answer; the same key with other input is a 409. Needed unless "
                   "the body carries idempotency_key.",
    "schema": {"type": "string", "maxLength": MAX_KEY},
}]}


def create_once(
    request: HttpRequest,
    *,
    action: str,
    owner: str,
    payload: Schema | None,
    create: Callable[[str], int],
    render: Callable[[int], Any],
    status: int = 201,
    path: Mapping[str, Any] | None = None,
) -> Status[Any]:
    """`create(key)` makes the row and returns its id (once per key); `render(id)` is the answer, the first time
    and on every repeat, after the commit (so what the commit set off, like a queued platform call, is in it)."""
    key = client_key(request.headers.get(KEY_HEADER), str(getattr(payload, "idempotency_key", "") or ""))
    asked = {
        "action": action,
        "path": dict(path or {}),
        "query": sorted(request.GET.lists()),
        "body": payload.model_dump(mode="json", exclude={"idempotency_key"}) if payload is not None else None,
    }
    ref, _first = answer_once(scope=f"{action}:{owner}"[:64], key=key, fingerprint=fingerprint(asked),
                              effect=lambda: create(key))
    return Status(status, render(ref))
