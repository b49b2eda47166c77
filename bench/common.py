"""Shared plumbing for the benchmarks: a fresh database of their own, Django set-up, and the output format.

Every benchmark prints a readable table and, as its LAST line, one JSON object (DESIGN.md §6):
`{"bench": "<name>", "figures": {...}, "ratios": {...}}` with units in the figure names (`_s`, `_per_s`, `_mb`).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
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


# Footprints measured at tier A (docs/analytics.md, docs/deployment.md "Sizing"): an event with its indexes in the
# OLTP database, the other per-customer tables, an event in the analytics copy, and the sort files of the largest
# index build (about that index's size again).
EVENT_BYTES, CUSTOMER_BYTES, COPY_EVENT_BYTES, SORT_EVENT_BYTES = 274, 1_400, 23, 45


def disk_needed(customers: int, events: int, *, copy: bool) -> int:
    """Bytes a generated database of this size needs at its peak: while the generator builds the event indexes (their
    sort files beside the table), or afterwards with the analytics copy beside it when asked."""
    database = events * EVENT_BYTES + customers * CUSTOMER_BYTES
    return max(database + events * SORT_EVENT_BYTES, database + (events * COPY_EVENT_BYTES if copy else 0))


def check_disk(customers: int, events: int, *, copy: bool, force: bool = False) -> None:
    """Refuse, before hours of work, a size the disk under var/ cannot hold (the tier B run needs ~78 GB)."""
    import shutil

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(BENCH_DIR).free
    need = disk_needed(customers, events, copy=copy)
    line = f"disk: this size needs about {need / 1e9:,.1f} GB at its peak; {free / 1e9:,.1f} GB free under {BENCH_DIR}"
    print(line, flush=True)
    if need > free and not force:
        raise SystemExit(f"refusing to start: {line} (--force to try anyway)")


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


def start_granian(port: int, *, workers: int = 1, interface: str = "wsgi", seconds: int = 60,
                  what: str = "the server") -> subprocess.Popen[bytes]:
    """granian serving Siyu on 127.0.0.1:`port` as `siyu serve` runs it, in a session of its own so that
    `os.killpg` stops its workers too; returns once `/api/health` answers, or exits naming `what` did not start.
    Under WSGI the database connections persist (a new PostgreSQL connection per request would cost more than most
    requests; WSGI threads are reused). Under ASGI they do not: Django runs each request's sync code in a thread of
    its own, so a persistent connection is left behind per request, and PostgreSQL refuses new clients within
    seconds of load ("too many clients", measured here at 16 users); `siyu serve` keeps the default 0 too."""
    import http.client

    granian = str(Path(sys.executable).parent / "granian")
    kind, target = ("asginl", "siyu.asgi:application") if interface == "asgi" else ("wsgi", "siyu.wsgi:application")
    server = subprocess.Popen(  # noqa: S603
        [granian, "--interface", kind, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", target],
        cwd=ROOT, start_new_session=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "siyu.settings",
             "SIYU_DB_CONN_MAX_AGE": "300" if interface == "wsgi" else "0"},
    )
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{what} exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    os.killpg(server.pid, 15)
    server.wait(timeout=20)
    raise SystemExit(f"{what} did not answer within {seconds} s")
