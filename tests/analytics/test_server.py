"""Web and worker processes query the analytics process's copy over loopback, with a key, and get typed rows back."""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime

import pytest

from siyu.analytics.engine import EngineUnavailable, RemoteEngine, get_engine, set_engine
from siyu.analytics.engine.copy import ColumnarCopy
from siyu.analytics.engine.server import serve_in_thread
from tests.conftest import Org
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_remote_query_round_trips_parameters_and_values(org: Org, copy: ColumnarCopy, settings) -> None:
    CustomerFactory.create(enterprise=org.enterprise, birthday=date(1990, 1, 2))
    moment = datetime(2026, 1, 1, 3, 0, tzinfo=UTC).replace(tzinfo=None)  # the copy's times are naive UTC
    copy.build()
    port = _free_port()
    server = serve_in_thread(copy, port)
    try:
        remote = RemoteEngine(f"http://127.0.0.1:{port}")
        answer = remote.query("SELECT birthday, ?::TIMESTAMP AS t, count(*) OVER () AS n FROM customers "
                              "WHERE enterprise_id = ? AND birthday < ?",
                              [moment, org.enterprise.pk, date(2000, 1, 1)])
        assert answer.rows == [(date(1990, 1, 2), moment, 1)]
        assert answer.as_of is not None and answer.as_of.tzinfo is not None
        settings.SIYU_ANALYTICS, settings.SIYU_ANALYTICS_URL = "auto", f"http://127.0.0.1:{port}"
        set_engine(None)
        assert isinstance(get_engine(), RemoteEngine)  # it mirrors this database: used
    finally:
        server.shutdown()
        server.server_close()


def test_a_wrong_key_or_bad_sql_is_refused(org: Org, copy: ColumnarCopy, settings) -> None:
    copy.build()
    port = _free_port()
    server = serve_in_thread(copy, port)
    try:
        with pytest.raises(EngineUnavailable, match="Catalog Error|Parser Error"):
            RemoteEngine(f"http://127.0.0.1:{port}").query("SELECT * FROM no_such_table")
        settings.SECRET_KEY = "another-install-" + "x" * 40
        with pytest.raises(EngineUnavailable, match="unauthorised"):
            RemoteEngine(f"http://127.0.0.1:{port}").query("SELECT 1")
    finally:
        server.shutdown()
        server.server_close()


def test_without_the_analytics_process_a_local_copy_answers(org: Org, settings) -> None:
    settings.SIYU_ANALYTICS, settings.SIYU_ANALYTICS_URL = "auto", f"http://127.0.0.1:{_free_port()}"
    settings.SIYU_ANALYTICS_LOCAL_TTL = 0
    set_engine(None)
    CustomerFactory.create(enterprise=org.enterprise)
    try:
        assert get_engine().query("SELECT count(*) FROM customers WHERE enterprise_id = ?",
                                  [org.enterprise.pk]).scalar() == 1
        CustomerFactory.create(enterprise=org.enterprise)
        assert get_engine().query("SELECT count(*) FROM customers WHERE enterprise_id = ?",
                                  [org.enterprise.pk]).scalar() == 2
    finally:
        set_engine(None)

