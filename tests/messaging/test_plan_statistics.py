"""A wide plan on PostgreSQL first refreshes missing or stale statistics of the tables it reads
(planning.fresh_statistics): without them the planner joined the grouped inputs by nested loops (433 s for a
100k plan instead of 7 s)."""

from __future__ import annotations

from django.db import connection

from siyu.customers.models import Customer, Identity
from siyu.messaging import planning
from tests.conftest import Org


def test_only_tables_without_fresh_statistics_are_analyzed(org: Org) -> None:
    if connection.vendor != "postgresql":
        assert planning.fresh_statistics() == []  # SQLite: nothing to do
        return
    customers, identities = Customer._meta.db_table, Identity._meta.db_table
    with connection.cursor() as cursor:
        for table in (customers, identities):  # as if never analyzed (a database just loaded)
            cursor.execute("SELECT pg_stat_reset_single_table_counters(%s::regclass)", [table])
    first = planning.fresh_statistics()
    assert {customers, identities} <= set(first)
    with connection.cursor() as cursor:  # the test runs in one transaction, which caches what it read of the stats
        cursor.execute("SELECT pg_stat_clear_snapshot()")
    assert planning.fresh_statistics() == []  # analyzed, and nothing changed since
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s) AND last_analyze IS NOT NULL",
                       [[customers, identities]])
        assert sorted(r[0] for r in cursor.fetchall()) == sorted([customers, identities])

