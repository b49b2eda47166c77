"""Run a keyed side effect once: the record is written in the same transaction as the effect."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import Conflict, DomainError, ValidationFailed
from siyu.core.models import IdempotencyRecord

KEY_HEADER = "Idempotency-Key"
MAX_KEY = 64


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


# ---------------------------------------------------------------------------------------------------------------
# Client keys: a create with an effect outside Siyu (an order taking stock, a refund, a mass send) names itself with
# the client's key; a repeat (a retry after a lost answer, a double tap) gets the first answer back.


def client_key(header: str | None, body_key: str | None = None) -> str:
    """The client's key from the Idempotency-Key header or the body's idempotency_key; a 400 naming the header when
    there is none, a 422 when the two disagree or the key is too long."""
    from_header, from_body = (header or "").strip(), (body_key or "").strip()
    if from_header and from_body and from_header != from_body:
        raise ValidationFailed(_("the Idempotency-Key header and the body's idempotency_key differ"),
                               field="idempotency_key", code="idempotency_key_mismatch")
    key = from_header or from_body
    if not key:
        raise DomainError(
            _("this request creates something once: send an %(KEY_HEADER)s header (a fresh random value per "
              "action, the same value when retrying it)") % {"KEY_HEADER": KEY_HEADER},
            field=KEY_HEADER, code="idempotency_key_required",
        )
    if len(key) > MAX_KEY:
        raise ValidationFailed(
            _("%(KEY_HEADER)s is at most %(MAX_KEY)s characters") % {"KEY_HEADER": KEY_HEADER, "MAX_KEY": MAX_KEY},
            field=KEY_HEADER,
            code="idempotency_key_length",
        )
    return key


def fingerprint(request_parts: Any) -> str:
    """A digest of what the request asked for (its body and path), to tell a repeat from a reuse of the key."""
    text = json.dumps(request_parts, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def answer_once(*, scope: str, key: str, fingerprint: str, effect: Callable[[], int]) -> tuple[int, bool]:
    """Run `effect` (a create returning the new row's id) once per scope and key; return (id, first time).

    The key is stored in the same transaction as the effect, so a concurrent repeat either waits and finds it or rolls
    its own effect back and takes the winner's. A repeat with another fingerprint is a 409 idempotency_key_reused. An
    effect that raises stores nothing: its retry runs again. Callers answer a repeat as they answered the first time,
    from the same row."""
    found = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
    if found is not None:
        return _replay(found, fingerprint), False
    try:
        with transaction.atomic():
            ref = effect()
            IdempotencyRecord.objects.create(scope=scope, key=key, result={"fingerprint": fingerprint, "id": ref})
    except IntegrityError:
        found = IdempotencyRecord.objects.filter(scope=scope, key=key).first()
        if found is None:
            raise
        return _replay(found, fingerprint), False
    return ref, True


def _replay(record: IdempotencyRecord, fingerprint: str) -> int:
    if record.result.get("fingerprint") != fingerprint:
        raise Conflict(
            _("this %(KEY_HEADER)s was used for another request") % {"KEY_HEADER": KEY_HEADER},
            field=KEY_HEADER, code="idempotency_key_reused",
        )
    return int(record.result["id"])
