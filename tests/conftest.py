from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import freezegun
import httpx
import pytest

from simulator import state as simulator_state
from siyu.org.models import Enterprise, Region, Role, Staff, Store
from tests import proof
from tests.factories import EnterpriseFactory, RegionFactory, StaffFactory, StoreFactory, UserFactory

# pytest times each phase in _pytest.timing (newer pytest); freezegun only leaves _pytest.runner and .terminal on the
# real clock, so a frozen test reported its clock's jumps as hours in --durations and hid the real slow tests.
freezegun.configure(extend_ignore_list=["_pytest.timing"])


def pytest_configure(config: pytest.Config) -> None:
    """Tests hash passwords with MD5: the production hasher costs seconds per fixture on a loaded 2-core machine."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Playwright's sync API keeps an event loop running in the main thread; tests' own ORM calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = os.environ.get("SIYU_CHROMIUM", "/usr/bin/chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[_POSTGRES_TESTS] = sum(1 for item in items if item.get_closest_marker("postgres"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """A skip for lack of PostgreSQL or Chromium is named at the very end, where nobody can miss it."""
    for line in proof.summary_lines(os.environ, postgres_tests=config.stash.get(_POSTGRES_TESTS, 0)):
        terminalreporter.write_line(line, red=True, bold=True)


_POSTGRES_TESTS = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole run: a second sync_playwright() in the same thread would fail. Missing under CI,
    the browser tests fail (they are the only proof of the console's behaviour); elsewhere they skip, loudly."""
    try:
        sync_api = importlib.import_module("playwright.sync_api")
    except ImportError:
        proof.require(proof.CHROMIUM, available=False, detail="the playwright package is not installed")
    proof.require(proof.CHROMIUM, available=os.path.exists(CHROMIUM),
                  detail=f"{CHROMIUM} is missing (scripts/ensure-browser.sh installs it)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield launched
        launched.close()


@dataclass
class Org:
    """A small enterprise: regions north/south, two stores each, one staff member of every role."""

    enterprise: Enterprise
    north: Region
    south: Region
    store_n1: Store
    store_n2: Store
    store_s1: Store
    store_s2: Store
    hq: Staff
    north_manager: Staff
    n1_manager: Staff
    n1_staff: Staff
    n2_staff: Staff
    s1_staff: Staff


@pytest.fixture
def org(db: None) -> Org:
    ent = EnterpriseFactory.create()
    north = RegionFactory.create(enterprise=ent, name="North", code="north")
    south = RegionFactory.create(enterprise=ent, name="South", code="south")
    n1 = StoreFactory.create(region=north, name="Beijing 1", code="bj1")
    n2 = StoreFactory.create(region=north, name="Tianjin 1", code="tj1")
    s1 = StoreFactory.create(region=south, name="Guangzhou 1", code="gz1")
    s2 = StoreFactory.create(region=south, name="Shenzhen 1", code="sz1")

    def staff(name: str, role: str, **kw: object) -> Staff:
        return StaffFactory.create(enterprise=ent, name=name, wecom_userid=name, role=role,
                            user=UserFactory.create(username=name), **kw)

    return Org(
        enterprise=ent, north=north, south=south, store_n1=n1, store_n2=n2, store_s1=s1, store_s2=s2,
        hq=staff("hq", Role.HQ_ADMIN),
        north_manager=staff("north_mgr", Role.REGION_MANAGER, region=north),
        n1_manager=staff("n1_mgr", Role.STORE_MANAGER, store=n1, region=north),
        n1_staff=staff("n1_staff", Role.STORE_STAFF, store=n1, region=north),
        n2_staff=staff("n2_staff", Role.STORE_STAFF, store=n2, region=north),
        s1_staff=staff("s1_staff", Role.STORE_STAFF, store=s1, region=south),
    )


@pytest.fixture(scope="session", autouse=True)
def _release_group_commit_connections(django_db_setup: Any) -> Iterator[None]:
    """The callback intake's writer threads keep a connection open; close them before the test database is dropped."""
    yield
    from siyu.channels.common.groupcommit import release_all_connections

    release_all_connections()


def _empty_filled_tables_only(
    self: Any, style: Any, tables: list[str], *, reset_sequences: bool = False, allow_cascade: bool = False
) -> list[str]:
    """PostgreSQL's flush after a transactional test (`django_db(transaction=True)`) as DELETEs of the tables that
    have rows, instead of one TRUNCATE of all ~150 tables: TRUNCATE makes a new file for every table and index, which
    cost 8-12 s per test on a loaded machine (docs/testing.md). The database ends the same: every table empty but the
    content types and permissions that flush's post_migrate would write straight back (kept), sequences left alone
    (flush never resets them here), foreign keys checked at commit (Django creates them DEFERRABLE INITIALLY
    DEFERRED, and flush runs in one transaction). A flush of a subset of the apps (allow_cascade) or one that resets
    sequences keeps Django's TRUNCATE."""
    if reset_sequences or allow_cascade or not tables:
        return _django_pg_sql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    quoted = [self.quote_name(table) for table in tables if table not in _KEPT_BY_FLUSH]
    with self.connection.cursor() as cursor:
        # table names from Django's introspection, quoted by the backend
        cursor.execute(" UNION ALL ".join(f"SELECT {i} WHERE EXISTS (SELECT 1 FROM {q})"  # noqa: S608
                                          for i, q in enumerate(quoted)))
        filled = [quoted[row[0]] for row in cursor.fetchall()]
    return [f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(q)};" for q in filled]


# What flush's post_migrate signal writes straight back (every model's content type and permissions; nothing in Siyu
# or the tests writes them otherwise): kept instead of deleted and inserted again, ~660 rows a test.
_KEPT_BY_FLUSH = frozenset({"django_content_type", "auth_permission"})
_django_pg_sql_flush: Any = None


@pytest.fixture(scope="session", autouse=True)
def _cheap_postgres_flush() -> Iterator[None]:
    global _django_pg_sql_flush
    from django.db.backends.postgresql.operations import DatabaseOperations

    _django_pg_sql_flush = DatabaseOperations.sql_flush
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", _empty_filled_tables_only)
        yield


# ---------------------------------------------------------------------------------------------------------------
# No network call inside a database transaction (DESIGN §5): every HTTP request the suite makes through httpx (the
# WeCom, Official Account and mini-program clients all send through httpx.Client.send) is checked against the open
# atomic blocks of the calling thread's connections. The blocks pytest-django opens around a test are Django's own
# (marked _from_testcase) and do not count; any other block is a service's transaction, and a request made inside it
# fails the test at teardown, even when the code under test swallowed the error.

_HTTP_IN_TRANSACTION: list[str] = []


def _service_transactions() -> list[str]:
    from django.db import connections

    return [
        conn.alias
        for conn in connections.all(initialized_only=True)
        if any(not getattr(block, "_from_testcase", False) for block in conn.atomic_blocks)
    ]


_real_send = httpx.Client.send


def _guarded_send(self: httpx.Client, request: httpx.Request, *args: Any, **kwargs: Any) -> httpx.Response:
    open_in = _service_transactions()
    if open_in:
        stack = "".join(traceback.format_stack(limit=14)[:-1])
        _HTTP_IN_TRANSACTION.append(f"{request.method} {request.url.path} inside a transaction on {open_in}\n{stack}")
    return _real_send(self, request, *args, **kwargs)


@pytest.fixture(scope="session", autouse=True)
def _guard_http_in_transactions() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx.Client, "send", _guarded_send)
        yield


@pytest.fixture(autouse=True)
def _fresh_simulator() -> None:
    """Every test starts with a simulator that remembers nothing (simulator.state.current() is a new Simulator)."""
    simulator_state.reset()


@pytest.fixture(autouse=True)
def _no_http_in_transactions() -> Iterator[None]:
    _HTTP_IN_TRANSACTION.clear()
    yield
    found, _HTTP_IN_TRANSACTION[:] = list(_HTTP_IN_TRANSACTION), []
    if found:
        pytest.fail(f"{len(found)} HTTP call(s) made inside a database transaction; the first:\n{found[0]}")
