"""The raw callback log's bookkeeping shared by every channel: what a refused request may store, the rows of
verified URL checks, and the periodic prune (replay keys past the window, old refusal counts, old refused bodies, and
the raw text of every handled callback once it is older than the retention period).

Unauthenticated requests write without bound unless something bounds them: every refused request is counted per
(account, source address, minute) in one upserted row, and only the first REFUSALS_STORED_PER_MINUTE of each such
count are stored in full. Unknown accounts all count as account 0, so varying the id in the URL does not buy a
fresh quota.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from siyu.channels.common import authenticity, storable
from siyu.channels.models import CallbackStatus, ChannelAccount, InboundCallback, RefusalTally
from siyu.core.timeutil import now

REFUSALS_STORED_PER_MINUTE = 10
REFUSAL_TALLY_RETENTION = timedelta(days=7)
REFUSED_BODY_RETENTION = timedelta(days=30)
PRUNE_BATCH = 5000


def _count_refusal(account_key: int, source: str, minute: datetime) -> int:
    """Add one to this (account, source, minute) tally and return the new count: one upsert, race-free."""
    table = connection.ops.quote_name(RefusalTally._meta.db_table)
    sql = (
        f"INSERT INTO {table} (account_key, source, minute, refused) VALUES (%s, %s, %s, 1) "  # noqa: S608 - model name
        f"ON CONFLICT (account_key, source, minute) DO UPDATE SET refused = {table}.refused + 1 RETURNING refused"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [account_key, source, connection.ops.adapt_datetimefield_value(minute)])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def refuse(
    *,
    kind: str,
    account: ChannelAccount | None,
    query: Mapping[str, str],
    body: bytes,
    body_limit: int,
    source: str,
    **fields: Any,
) -> InboundCallback | None:
    """Record a refused request: always counted, stored in full (redacted, truncated) only while this account and
    source are under their per-minute quota. Returns the stored row, or None when it was only counted."""
    address = authenticity.source_address(source)
    moment = now()
    count = _count_refusal(account.pk if account is not None else 0, address, moment.replace(second=0, microsecond=0))
    if count > REFUSALS_STORED_PER_MINUTE:
        return None
    fields.setdefault("status", CallbackStatus.REJECTED)
    return InboundCallback.objects.create(
        account=account,
        kind=kind,
        query=storable.query(authenticity.redact(query)),
        body=storable.text(body, body_limit),
        source=address,
        **fields,
    )


def log_verified(
    *, kind: str, account: ChannelAccount, query: Mapping[str, str], event: str, timestamp: int, source: str
) -> None:
    """A URL verification that passed: logged once per (timestamp, nonce), however often the same request comes."""
    row = InboundCallback(
        account=account,
        kind=kind,
        query=storable.query(authenticity.redact(query)),
        event=event,
        status=CallbackStatus.PROCESSED,
        signature_ok=True,
        processed_at=now(),
        replay_key=authenticity.replay_key(account.pk, timestamp, str(query.get("nonce", ""))),
        source=authenticity.source_address(source),
    )
    InboundCallback.objects.bulk_create([row], ignore_conflicts=True)


def prune(*, at: datetime | None = None) -> dict[str, int]:
    """Periodic (every minute): replay keys that can no longer collide, refusal counts older than a week, refused
    bodies older than 30 days (a bounded batch per run). Set-based; safe to run twice or concurrently."""
    moment = at or now()
    cleared = InboundCallback.objects.filter(
        replay_key__lt=authenticity.replay_keys_expire_before(moment.timestamp())
    ).update(replay_key=None)
    tallies, _ = RefusalTally.objects.filter(minute__lt=moment - REFUSAL_TALLY_RETENTION).delete()
    old = list(
        InboundCallback.objects.filter(
            status=CallbackStatus.REJECTED, received_at__lt=moment - REFUSED_BODY_RETENTION
        ).values_list("pk", flat=True)[:PRUNE_BATCH]
    )
    refused, _ = InboundCallback.objects.filter(pk__in=old).only("pk").delete() if old else (0, {})
    return {"replay_keys_cleared": cleared, "refusal_tallies_deleted": tallies, "refused_callbacks_deleted": refused,
            "callback_bodies_erased": erase_old_bodies(moment)}


def erase_old_bodies(moment: datetime) -> int:
    """Personal data kept no longer than needed (PIPL): after SIYU_RAW_RETENTION_DAYS a handled callback keeps what
    it was (kind, event, status, times, dedupe key) but loses its raw body, decrypted text and query. Callbacks still
    waiting to be processed keep theirs. A bounded batch per run, oldest first."""
    cutoff = moment - timedelta(days=settings.SIYU_RAW_RETENTION_DAYS)
    batch = list(
        InboundCallback.objects.filter(received_at__lt=cutoff)
        .exclude(status=CallbackStatus.RECEIVED)
        .exclude(body="", plaintext="", query={})
        .order_by("received_at")
        .values_list("pk", flat=True)[:PRUNE_BATCH]
    )
    return InboundCallback.objects.filter(pk__in=batch).update(body="", plaintext="", query={}) if batch else 0
