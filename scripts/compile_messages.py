"""Compile every siyu/locale/*/LC_MESSAGES/*.po and siyu/<app>/locale/*/LC_MESSAGES/*.po into its .mo with
polib, so GNU gettext is not needed.

    .venv/bin/python scripts/compile_messages.py          # compile
    .venv/bin/python scripts/compile_messages.py --check  # exit 1 when a .mo is missing or stale
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parent.parent / "siyu" / "locale"


def compiled_bytes(po_path: Path) -> bytes:
    catalog = polib.pofile(str(po_path))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mo"
        catalog.save_as_mofile(str(out))
        return out.read_bytes()


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    catalogs = [*LOCALE.glob("*/LC_MESSAGES/*.po"), *LOCALE.parent.glob("*/locale/*/LC_MESSAGES/*.po")]
    for po_path in sorted(catalogs):
        mo_path = po_path.with_suffix(".mo")
        data = compiled_bytes(po_path)
        if mo_path.exists() and mo_path.read_bytes() == data:
            continue
        if check:
            stale.append(str(mo_path))
        else:
            mo_path.write_bytes(data)
            print(f"compiled {mo_path.relative_to(LOCALE.parent.parent)}")
    if stale:
        print("stale or missing: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
