"""Inbound bytes made storable: PostgreSQL text cannot hold NUL (0x00), and a raw callback must be stored whatever a
sender put in it (a forged request full of NULs is still logged and refused with its proper status, not a 500)."""

from __future__ import annotations

from collections.abc import Mapping

NUL, REPLACEMENT = "\x00", "\ufffd"


def text(raw: bytes | str, limit: int | None = None) -> str:
    """UTF-8 text of at most `limit` bytes of input, undecodable bytes and NULs shown as U+FFFD."""
    if isinstance(raw, bytes):
        raw = (raw if limit is None else raw[:limit]).decode("utf-8", errors="replace")
    elif limit is not None:
        raw = raw[:limit]
    return raw.replace(NUL, REPLACEMENT) if NUL in raw else raw


def query(params: Mapping[str, object], limit: int = 512) -> dict[str, str]:
    plain = {str(key)[:128]: str(value)[:limit] for key, value in params.items()}
    if any(NUL in key or NUL in value for key, value in plain.items()):
        return {text(key): text(value) for key, value in plain.items()}
    return plain
