"""The `siyu` command: demo, serve, worker, and every Django management command."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["siyu", *args])
