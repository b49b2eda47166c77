"""Racing threads against PostgreSQL row locks: each test that proves a race starts n workers at one barrier and counts
how each ended (ok, a domain refusal's code, or a crash, which fails the test by showing in the counts)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

from django.db import connections

from siyu.core.errors import DomainError


def race(n: int, work: Callable[[int], object]) -> Counter[str]:
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    guard = threading.Lock()

    def run(i: int) -> None:
        outcome = "ok"
        try:
            barrier.wait()
            work(i)
        except DomainError as exc:
            outcome = exc.code
        except Exception as exc:  # noqa: BLE001 - a crash shows in the counts and fails the test
            outcome = f"crash:{type(exc).__name__}:{exc}"
        finally:
            connections.close_all()
        with guard:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(outcomes)
