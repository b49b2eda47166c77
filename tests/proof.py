"""Proof that cannot be skipped: the race tests (PostgreSQL) and the browser tests (Chromium) are the only proof of
their behaviour, so under CI a missing PostgreSQL or Chromium fails the run; on a developer's machine it is skipped
with a loud line at the end of the run.

Used by tests/conftest.py (Chromium, and the closing summary) and by scripts/test.sh (PostgreSQL):

    python -m tests.proof postgres reachable|unreachable   # exit 1 under CI when unreachable, else print the line
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import pytest

POSTGRES = "PostgreSQL"
CHROMIUM = "Chromium"
REDIS = "Redis"
POSTGRES_UNAVAILABLE_ENV = "SIYU_POSTGRES_UNAVAILABLE"  # set by scripts/test.sh for the SQLite run's summary


def under_ci(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Missing:
    what: str  # POSTGRES, CHROMIUM or REDIS
    action: Literal["fail", "skip"]
    message: str


def missing(what: str, env: Mapping[str, str], detail: str = "") -> Missing:
    """What to do when `what` is not available: fail under CI, skip (loudly) elsewhere."""
    proves = {POSTGRES: "the race tests", CHROMIUM: "the browser tests", REDIS: "the Redis queue test"}[what]
    reason = f"{what} is not available{': ' + detail if detail else ''}"
    if under_ci(env):
        return Missing(what, "fail", f"{reason}; CI=true, so {proves} cannot be skipped")
    return Missing(what, "skip", f"{reason}; {proves} did NOT run (CI would fail here)")


SKIPPED: list[str] = []  # what this run skipped for lack of PostgreSQL or Chromium, for the closing summary


def require(what: str, *, available: bool, detail: str = "") -> None:
    """Inside a test or fixture: fail (CI) or skip and remember (elsewhere) when `what` is not available."""
    if available:
        return
    decision = missing(what, os.environ, detail)
    if decision.action == "fail":
        pytest.fail(decision.message, pytrace=False)
    if decision.message not in SKIPPED:
        SKIPPED.append(decision.message)
    pytest.skip(decision.message)


def summary_lines(env: Mapping[str, str], *, postgres_tests: int) -> list[str]:
    """The loud closing lines: every skip recorded by require(), and the PostgreSQL-only tests when scripts/test.sh
    found no PostgreSQL for the run that would have proved them."""
    lines = list(SKIPPED)
    if env.get(POSTGRES_UNAVAILABLE_ENV) and postgres_tests:
        lines.append(missing(POSTGRES, env, "scripts/test.sh found nothing on 127.0.0.1:5432").message
                     + f": {postgres_tests} tests marked postgres ran on SQLite only")
    return banner(lines)


def banner(lines: list[str]) -> list[str]:
    if not lines:
        return []
    rule = "!" * 100
    return [rule, *(f"!!! SKIPPED PROOF: {line}" for line in lines), rule]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "postgres" or argv[1] not in {"reachable", "unreachable"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "reachable":
        return 0
    decision = missing(POSTGRES, os.environ, "nothing answers on 127.0.0.1:5432")
    for line in banner([decision.message]):
        print(line, file=sys.stderr if decision.action == "fail" else sys.stdout)
    return 1 if decision.action == "fail" else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
