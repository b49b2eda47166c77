"""Sorting database failures into "another writer got in the way" and everything else.

Contention is the database refusing this transaction because of a concurrent one: a deadlock or serialization
failure it broke by rolling this side back (PostgreSQL 40P01, 40001), a lock it could not take (55P03, SQLite's
"database is locked"), or the lost side of a uniqueness race (IntegrityError: the winner's row now exists, and a second
run finds it). A request that meets it gets a 409 (try again), a background job runs again.

Transient adds what a retry later may cure but a caller cannot: a connection lost midway, a database restarting.
"""

from __future__ import annotations

from django.db import IntegrityError, InterfaceError, OperationalError

CONTENTION_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


def _sqlstate(exc: BaseException) -> str:
    cause = exc.__cause__
    return str(getattr(cause, "sqlstate", "") or getattr(cause, "pgcode", "") or "")


def is_contention(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    if isinstance(exc, OperationalError):
        return _sqlstate(exc) in CONTENTION_SQLSTATES or "database is locked" in str(exc)
    return False


def is_transient(exc: BaseException) -> bool:
    return is_contention(exc) or isinstance(exc, OperationalError | InterfaceError)
