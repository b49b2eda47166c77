"""`siyu bench NAME [flags]`: run bench/NAME.py (each benchmark sets up its own database, never the demo's)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def available() -> list[str]:
    folder = settings.BASE_DIR / "bench"
    return sorted(p.stem for p in folder.glob("*.py") if p.stem not in {"__init__", "common"})


class Command(BaseCommand):
    help = "Run a benchmark from bench/: prints a table, then one JSON line with its figures and ratios."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="benchmark name (a file in bench/)")
        parser.add_argument("flags", nargs=argparse.REMAINDER, help="passed to the benchmark")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        names = available()
        if name not in names:
            raise CommandError(f"unknown benchmark {name!r}; available: {', '.join(names) or 'none'}")
        script = settings.BASE_DIR / "bench" / f"{name}.py"
        code = subprocess.call([sys.executable, str(script), *options["flags"]])  # noqa: S603
        if code:
            raise CommandError(f"benchmark {name} exited with {code}")
