"""The analytics engine: queries over the columnar copy, from whichever process asks.

    from siyu.analytics.engine import get_engine
    answer = get_engine().query("SELECT count(*) FROM customers WHERE enterprise_id = ?", [42])
    answer.scalar(), answer.as_of  # the value, and how fresh it is

Where the copy lives (docs/analytics.md explains the choice):
- `siyu analytics` (started by `siyu demo`) owns the copy, refreshes it every second and answers the other processes
  over HTTP on 127.0.0.1 (RemoteEngine).
- Without that process, or in tests, a process builds a small copy of its own in memory and builds it again when it
  is older than SIYU_ANALYTICS_LOCAL_TTL seconds (LocalEngine): fine for a demo-sized database, not for millions.
SIYU_ANALYTICS picks: "auto" (the analytics process when it answers for this database, else local), "remote" or
"local".
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from siyu.analytics.engine.copy import Answer, ColumnarCopy
from siyu.core.errors import DomainError

log = logging.getLogger(__name__)

__all__ = ["Answer", "Engine", "EngineUnavailable", "get_engine", "set_engine"]


class EngineUnavailable(DomainError):
    status = 503
    code = "analytics_unavailable"


class Engine(Protocol):
    def query(self, sql: str, params: Sequence[Any] = ()) -> Answer: ...


class CopyEngine:
    """Queries straight on a copy this process owns (the analytics process itself)."""

    def __init__(self, copy: ColumnarCopy) -> None:
        self.copy = copy

    def query(self, sql: str, params: Sequence[Any] = (), *, touched_only: bool = False) -> Answer:
        return self.copy.query(sql, params, touched_only=touched_only)


class LocalEngine:
    """A private in-memory copy, built again from the OLTP database when older than `ttl` seconds."""

    def __init__(self, ttl: float | None = None) -> None:
        self.ttl = float(settings.SIYU_ANALYTICS_LOCAL_TTL if ttl is None else ttl)
        self._copy: ColumnarCopy | None = None
        self._built = 0.0
        self._lock = threading.Lock()

    def copy(self) -> ColumnarCopy:
        with self._lock:
            if self._copy is None or time.monotonic() - self._built > self.ttl:
                if self._copy is not None:
                    self._copy.close()
                fresh = ColumnarCopy(None, capture_changes=False, threads=1)
                fresh.build()
                self._copy, self._built = fresh, time.monotonic()
            return self._copy

    def query(self, sql: str, params: Sequence[Any] = ()) -> Answer:
        return self.copy().query(sql, params)


class RemoteEngine:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, path: str, body: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        from siyu.analytics.engine.server import engine_key

        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - a loopback URL from settings
            self.url + path, data=data, method="POST" if body is not None else "GET",
            headers={"X-Siyu-Engine-Key": engine_key(), "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise EngineUnavailable(
                _("the analytics engine refused the query: %(detail)s") % {"detail": detail},
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise EngineUnavailable(_("the analytics engine is not reachable: %(exc)s") % {"exc": exc}) from exc

    def status(self, timeout: float = 1.0) -> dict[str, Any]:
        return dict(self._request("/status", timeout=timeout))

    def query(self, sql: str, params: Sequence[Any] = ()) -> Answer:
        from siyu.analytics.engine.server import decode_params, encode_value

        started = time.perf_counter()
        body = self._request("/query", {"sql": sql, "params": [encode_value(p) for p in params]})
        rows = [tuple(decode_params(list(row))) for row in body["rows"]]
        return Answer(columns=list(body["columns"]), rows=rows,
                      as_of=datetime.fromisoformat(body["as_of"]) if body.get("as_of") else None,
                      elapsed_ms=(time.perf_counter() - started) * 1000, source="remote")


_override: Engine | None = None
_local: LocalEngine | None = None
_remote_checked: tuple[float, bool] = (0.0, False)
_guard = threading.Lock()


def set_engine(engine: Engine | None) -> None:
    """Use this engine in this process (the analytics process its own copy; tests a copy they control)."""
    global _override, _local, _remote_checked
    with _guard:
        _override = engine
        _local = None
        _remote_checked = (0.0, False)


def _remote_matches(remote: RemoteEngine) -> bool:
    from siyu.analytics.engine.server import database_fingerprint

    global _remote_checked
    checked_at, ok = _remote_checked
    if time.monotonic() - checked_at < 10:
        return ok
    try:
        ok = remote.status().get("fingerprint") == database_fingerprint()
    except EngineUnavailable:
        ok = False
    _remote_checked = (time.monotonic(), ok)
    return ok


def get_engine() -> Engine:
    global _local
    if _override is not None:
        return _override
    mode = settings.SIYU_ANALYTICS
    remote = RemoteEngine(settings.SIYU_ANALYTICS_URL)
    if mode == "remote" or (mode == "auto" and _remote_matches(remote)):
        return remote
    with _guard:
        if _local is None:
            _local = LocalEngine()
        return _local
