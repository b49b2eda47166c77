"""`siyu analytics`: build the columnar copy, answer queries on 127.0.0.1 and keep the copy fresh (Ctrl-C stops)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from siyu.analytics.engine import CopyEngine, set_engine
from siyu.analytics.engine.copy import ColumnarCopy
from siyu.analytics.engine.loop import run
from siyu.analytics.engine.server import serve_in_thread


class Command(BaseCommand):
    help = "Run the analytics engine: the DuckDB copy of the OLTP data, refreshed every second, queried over loopback."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.SIYU_ANALYTICS_PORT)
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
        parser.add_argument("--threads", type=int, default=2, help="DuckDB threads")
        parser.add_argument("--memory-limit", default=None, help="DuckDB memory limit, e.g. 2GB")
        parser.add_argument("--path", default=None, help="the copy's file (default var/analytics/copy.duckdb)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"] or settings.SIYU_ANALYTICS_DIR / "copy.duckdb")
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", ".wal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)  # the copy is a cache: every start builds it afresh
        copy = ColumnarCopy(path, threads=options["threads"], memory_limit=options["memory_limit"])
        self.stdout.write(f"analytics: building the columnar copy in {path} ...")
        built = copy.build()
        total = sum(built.inserted.values())
        self.stdout.write(f"analytics: {total:,} rows copied in {built.seconds:.1f}s "
                          f"(events: {built.inserted.get('events', 0):,})")
        set_engine(CopyEngine(copy))
        server = serve_in_thread(copy, options["port"])
        self.stdout.write(self.style.SUCCESS(f"analytics: answering on http://127.0.0.1:{options['port']}/"))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            run(copy, interval=options["interval"], stop=stop)
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            copy.close()
