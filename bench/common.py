"""Shared plumbing for the benchmarks: a fresh database of their own, Django set-up, and the output format.

Every benchmark prints a readable table and, as its LAST line, one JSON object (DESIGN.md §6):
`{"bench": "<name>", "figures": {...}, "ratios": {...}}` with units in the figure names (`_s`, `_per_s`, `_mb`).
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"


def fresh_database(name: str, url: str | None = None) -> str:
    """A new, empty database for this benchmark (never the demo's): var/bench/<name>.sqlite3 by default.

    A PostgreSQL URL must name a database whose name starts with `siyu_bench`; it is dropped and created again.
    """
    if not url:
        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        path = BENCH_DIR / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    elif url.startswith(("postgres://", "postgresql://")):
        _recreate_postgres(url)
    os.environ["SIYU_DATABASE_URL"] = url
    return url


def _recreate_postgres(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    db = parsed.path.lstrip("/")
    if not db.startswith("siyu_bench"):
        raise SystemExit(f"refusing to recreate database {db!r}: benchmark databases are named siyu_bench*")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')


def setup_django(*, migrate: bool = True) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (and of finished children it waited for), in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def report(bench: str, rows: list[tuple[str, str]], figures: dict[str, float], ratios: dict[str, float]) -> None:
    width = max(len(label) for label, _value in rows) if rows else 10
    print(f"== {bench}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    print(json.dumps({
        "bench": bench,
        "figures": {k: round(v, 3) for k, v in figures.items()},
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
    }))
    sys.stdout.flush()
