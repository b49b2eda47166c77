"""Scripted misbehaviour in front of the simulated platforms: what a real platform does on a bad day.

A `Faults` holds, per request path (the full path the server sees, e.g. `/sms/send` or
`/wecom/cgi-bin/externalcontact/add_msg_template`), a queue of faults; each request to that path takes the next one,
and once the queue is empty the platform answers normally. Faults:

- `http:<status>`   answer that HTTP status (500, 502, 503, 429 ...) without doing the work;
- `errcode:<n>`     answer HTTP 200 with `{"errcode": n}` without doing the work (WeCom and the Official Account: -1
                    system busy, 45009 frequency limit or daily quota, 48009 API not authorised ...);
- `stall:<seconds>` do the work, then answer only after `seconds`: a client whose timeout is shorter gives up, so the
                    platform has acted and the caller does not know it (the case idempotency keys are for);
- `lost`            do the work, then cut the answer short (the connection closes mid-body): the same uncertainty
                    without the wait.

`SimulatorServer` puts one in front of every platform (`server.faults`); `POST /_sim/faults` with
`{"path": ..., "faults": [...]}` scripts it over HTTP (against `siyu simulate` too) and `GET /_sim/faults` lists
what was scripted and what each request got. This module knows nothing of the platforms' protocols.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
CONTROL = "/_sim/faults"
KINDS = ("http", "errcode", "stall", "lost")


def parse(fault: str) -> tuple[str, str]:
    """`"errcode:45009"` → ("errcode", "45009"); refuses what it does not know (ValueError)."""
    kind, _, arg = fault.partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown fault {fault!r}")
    if kind == "http" and not (arg.isdigit() and 400 <= int(arg) <= 599):
        raise ValueError(f"http needs a 4xx or 5xx status: {fault!r}")
    if kind == "errcode" and not arg.lstrip("-").isdigit():
        raise ValueError(f"errcode needs a number: {fault!r}")
    if kind == "stall":
        try:
            if not 0 < float(arg) <= 120:
                raise ValueError
        except ValueError:
            raise ValueError(f"stall needs seconds in (0, 120]: {fault!r}") from None
    if kind == "lost" and arg:
        raise ValueError(f"lost takes no argument: {fault!r}")
    return kind, arg


@dataclass
class Faults:
    lock: threading.Lock = field(default_factory=threading.Lock)
    queued: dict[str, deque[str]] = field(default_factory=dict)
    served: list[tuple[str, str]] = field(default_factory=list)  # (path, fault or "ok"), in arrival order

    def script(self, path: str, *faults: str) -> None:
        for fault in faults:
            parse(fault)
        with self.lock:
            self.queued.setdefault(path, deque()).extend(faults)

    def take(self, path: str) -> str | None:
        with self.lock:
            queue = self.queued.get(path)
            fault = queue.popleft() if queue else None
            self.served.append((path, fault or "ok"))
        return fault

    def count(self, path: str, fault: str | None = None) -> int:
        """Requests to `path` (that got `fault`, or any)."""
        with self.lock:
            return sum(1 for p, f in self.served if p == path and (fault is None or f == fault))

    def pending(self) -> dict[str, list[str]]:
        with self.lock:
            return {p: list(q) for p, q in self.queued.items() if q}


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _control(faults: Faults, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ.get("REQUEST_METHOD") == "GET":
        return _json(start_response, "200 OK", {"pending": faults.pending(),
                                                 "served": [list(s) for s in faults.served]})
    try:
        size = min(int(environ.get("CONTENT_LENGTH") or 0), 65536)
        data = json.loads(environ["wsgi.input"].read(size) or b"{}")
        path, wanted = str(data["path"]), [str(f) for f in data["faults"]]
        faults.script(path, *wanted)
    except (KeyError, TypeError, ValueError) as exc:
        return _json(start_response, "400 Bad Request", {"error": str(exc)})
    return _json(start_response, "200 OK", {"pending": faults.pending()})


def _run(app: WSGIApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """The platform's own answer, collected (so it can be withheld, delayed or cut)."""
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        got["status"], got["headers"] = status, headers

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return got["status"], got["headers"], body


def wrap(app: WSGIApp, faults: Faults) -> WSGIApp:
    def faulty(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == CONTROL:
            return _control(faults, environ, start_response)
        fault = faults.take(path)
        if fault is None:
            return app(environ, start_response)
        kind, arg = parse(fault)
        if kind == "http":
            return _json(start_response, f"{arg} Injected", {"errcode": -1, "errmsg": f"injected HTTP {arg}"})
        if kind == "errcode":
            return _json(start_response, "200 OK", {"errcode": int(arg), "errmsg": f"injected errcode {arg}"})
        status, headers, body = _run(app, environ)
        if kind == "stall":
            time.sleep(float(arg))
            start_response(status, headers)
            return [body]
        # lost: promise the whole body, send half, and the server closes the connection (HTTP/1.0)
        kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*kept, ("Content-Length", str(len(body) + 64))])
        return [body[: len(body) // 2]]

    return faulty
