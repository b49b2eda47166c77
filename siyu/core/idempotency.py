"""Run a keyed side effect once: the record is written in the same transaction as the effect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from siyu.core.models import IdempotencyRecord


def once(scope: str, key: str, effect: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """Return (result, created). A repeat with the same scope and key returns the stored first result."""
    existing = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if existing is not None:
        return existing.result, False
    try:
        with transaction.atomic():
            result = effect()
            IdempotencyRecord.objects.create(scope=scope, key=key, result=result)
    except IntegrityError:
        winner = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if winner is None:
            raise
        return winner.result, False
    return result, True
