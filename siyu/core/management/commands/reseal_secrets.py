"""`siyu reseal_secrets --old-key KEY` (or SIYU_OLD_SEAL_KEY): re-seal every stored secret under the current key.

Run it after changing the sealing key (SIYU_SEAL_KEY, or SIYU_SECRET_KEY when SIYU_SEAL_KEY is not set), with the
previous key as the old key. One transaction: either every sealed value moves or none does. Idempotent: values the
current key already opens are left alone, so a second run reseals 0. A value neither key opens stops the run with
nothing changed, unless --clear-unreadable is given (the value is then emptied: cached tokens are fetched again,
credentials must be re-entered in the console).
"""

from __future__ import annotations

import os
from typing import Any

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction

from siyu.core.secretbox import fernet_for, readable, seal_key, sealed_fields

BATCH = 500


class Command(BaseCommand):
    help = "Re-seal every stored secret (channel credentials, cached tokens) under the current sealing key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--old-key", default=os.environ.get("SIYU_OLD_SEAL_KEY", ""),
                            help="the previous sealing key (default: $SIYU_OLD_SEAL_KEY)")
        parser.add_argument("--clear-unreadable", action="store_true",
                            help="empty values that neither key opens instead of stopping")

    def handle(self, *args: Any, **options: Any) -> None:
        old_key: str = options["old_key"]
        if not old_key:
            raise CommandError("give the previous sealing key: --old-key KEY or SIYU_OLD_SEAL_KEY=KEY")
        if old_key == seal_key():
            raise CommandError("the old key is the current sealing key: set the new key (SIYU_SEAL_KEY) first")
        totals = {"resealed": 0, "current": 0, "unreadable": 0}
        with transaction.atomic():
            for model, name in sealed_fields():
                counts = _reseal_field(model, name, old_key, clear=options["clear_unreadable"])
                for key, value in counts.items():
                    totals[key] += value
                if counts["unreadable"] and not options["clear_unreadable"]:
                    raise CommandError(
                        f"{counts['unreadable']} value(s) in {model._meta.label}.{name} cannot be read with the old "
                        "or the current key: nothing was changed (wrong --old-key? --clear-unreadable empties them)"
                    )
        self.stdout.write(
            f"resealed {totals['resealed']}, already under the current key {totals['current']}, "
            f"cleared unreadable {totals['unreadable']}"
        )


def _reseal_field(model: type[models.Model], name: str, old_key: str, *, clear: bool) -> dict[str, int]:
    old, new = fernet_for(old_key), fernet_for(seal_key())
    counts = {"resealed": 0, "current": 0, "unreadable": 0}
    changed: list[models.Model] = []
    rows = model._default_manager.exclude(**{name: ""}).only("pk", name).order_by("pk")
    for row in rows.iterator(chunk_size=BATCH):
        value = getattr(row, name)
        if readable(value):
            counts["current"] += 1
            continue
        try:
            setattr(row, name, new.encrypt(old.decrypt(value.encode())).decode())
            counts["resealed"] += 1
        except InvalidToken:
            counts["unreadable"] += 1
            if not clear:
                continue
            setattr(row, name, "")
        changed.append(row)
    model._default_manager.bulk_update(changed, [name], batch_size=BATCH)
    return counts
