"""The analytics process's loop: refresh the copy every second, then let the apps that follow it react (dynamic
segment membership, lifecycle stages), compact, prune the change log and run what is due (nightly RFM).

Apps plug in with `register_after_refresh(name, hook)` from AppConfig.ready; a hook gets the copy and the refresh's
result (with the customers it touched) and runs in this loop's thread, the copy's only writer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections

from siyu.analytics.engine.copy import ColumnarCopy, RefreshResult

log = logging.getLogger(__name__)

AfterRefresh = Callable[[ColumnarCopy, RefreshResult], None]

_HOOKS: dict[str, AfterRefresh] = {}


def register_after_refresh(name: str, hook: AfterRefresh) -> None:
    _HOOKS[name] = hook


def unregister_after_refresh(name: str) -> None:
    _HOOKS.pop(name, None)


def after_refresh_hooks() -> list[tuple[str, AfterRefresh]]:
    return list(_HOOKS.items())


@dataclass
class LoopStats:
    refreshes: int = 0
    last: RefreshResult | None = None
    errors: int = 0
    hook_seconds: dict[str, float] = field(default_factory=dict)


def run_hooks(copy: ColumnarCopy, result: RefreshResult, stats: LoopStats | None = None) -> None:
    for name, hook in after_refresh_hooks():
        started = time.monotonic()
        try:
            hook(copy, result)
        except Exception:
            log.exception("analytics: hook %s failed", name)
            if stats is not None:
                stats.errors += 1
        if stats is not None:
            stats.hook_seconds[name] = time.monotonic() - started


def tick(copy: ColumnarCopy, stats: LoopStats) -> RefreshResult:
    result = copy.refresh()
    stats.refreshes += 1
    stats.last = result
    run_hooks(copy, result, stats)
    return result


def run(copy: ColumnarCopy, *, interval: float = 1.0, stop: threading.Event | None = None,
        stats: LoopStats | None = None, close_connections: bool = True) -> LoopStats:
    """Refresh until `stop` is set. Each pass starts `interval` seconds after the previous one started, at once when
    a batch limit was reached."""
    stop = stop or threading.Event()
    stats = stats or LoopStats()
    last_prune = time.monotonic()
    while not stop.is_set():
        started = time.monotonic()
        more = False
        try:
            if close_connections:
                close_old_connections()
            more = tick(copy, stats).more
            for name in copy.needs_compaction():
                copy.compact(name)
            if time.monotonic() - last_prune > 60:
                copy.prune_change_log()
                last_prune = time.monotonic()
        except Exception:
            log.exception("analytics: refresh failed")
            stats.errors += 1
        if not more:
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
    return stats
