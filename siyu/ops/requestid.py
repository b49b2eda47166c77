"""A request id on every request and on every log line written while serving it.

The id is the caller's `X-Request-ID` when it is a short token (a load balancer's or a client's own), otherwise a new
one; it is echoed in the response's `X-Request-ID` so an operator can find a user's failing request in the logs.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{8,64}")  # no spaces or control characters: it is written into logs
_current: ContextVar[str] = ContextVar("siyu_request_id", default="")


def current() -> str:
    """The id of the request being served, or "" outside one (a worker task, a command)."""
    return _current.get()


def choose(offered: str) -> str:
    return offered if _ACCEPTED.fullmatch(offered) else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = choose(request.headers.get(HEADER, ""))
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (empty outside a request), for the JSON and the plain formats alike."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", "") or current()
        record.request_id = request_id
        record.request_tag = f"[{request_id}] " if request_id else ""
        return True
