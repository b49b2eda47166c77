"""Readiness: may a load balancer send this process traffic? The database answers and no migration is pending.

Liveness (/api/health) only says the process runs; readiness fails while the database is down or during an upgrade
whose migrations have not been applied yet, so traffic goes to processes that can serve it. The answer names the
checks and whether each passed, never why (no connection strings or errors to an anonymous caller); the log has that.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

log = logging.getLogger(__name__)
_migrated = False  # once every migration is applied it stays so for this process's code


def _database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        log.warning("readiness: the database does not answer", exc_info=True)
        return False


def _migrations() -> bool:
    global _migrated
    if _migrated:
        return True
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        log.warning("readiness: the migration state cannot be read", exc_info=True)
        return False
    if pending:
        log.warning("readiness: %d migrations are not applied", len(pending))
        return False
    _migrated = True
    return True


def checks() -> dict[str, bool]:
    database = _database()
    return {"database": database, "migrations": database and _migrations()}


def reset() -> None:
    """Forget that migrations were seen applied (tests)."""
    global _migrated
    _migrated = False
