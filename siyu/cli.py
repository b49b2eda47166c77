"""The `siyu` command: demo, serve, worker, and every Django management command."""

from __future__ import annotations

import os
import sys

_HYPHENATED = {"import-members": "import_members"}  # command names as the docs spell them


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in _HYPHENATED:
        args[0] = _HYPHENATED[args[0]]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["siyu", *args])
