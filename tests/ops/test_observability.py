"""Request ids, structured logs, Prometheus metrics and readiness (siyu/ops, docs/deployment.md).

Metric values are read back through prometheus_client's own text parser, not our code, and compared with what the
test itself did (requests made, rows written)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from prometheus_client.parser import text_string_to_metric_families

from siyu.channels.models import AccountKind, CallbackStatus, InboundCallback
from siyu.core import ready
from siyu.customers.models import Customer
from siyu.messaging.models import Campaign, Delivery
from siyu.ops import requestid
from siyu.ops.logs import SiyuJsonFormatter
from siyu.ops.metrics import FAST_PATH, UNMATCHED, count_asgi
from tests.conftest import Org

pytestmark = pytest.mark.django_db
TOKEN = "scrape-token-for-tests"


def _scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _requests(samples: dict[Any, float], route: str, status: str, method: str = "GET") -> float:
    labels = tuple(sorted({"route": route, "method": method, "status": status}.items()))
    return samples.get(("siyu_http_requests_total", labels), 0.0)


def test_a_request_id_is_kept_when_well_formed_and_replaced_when_not(client: Client) -> None:
    kept = client.get("/api/health", HTTP_X_REQUEST_ID="lb-7f3a9c21")
    assert kept["X-Request-ID"] == "lb-7f3a9c21"
    for offered in ("short", "has space 123456", "x" * 65, "bad\nline-1234"):
        replaced = client.get("/api/health", HTTP_X_REQUEST_ID=offered)["X-Request-ID"]
        assert replaced != offered and len(replaced) == 32 and int(replaced, 16) >= 0
    a, b = client.get("/api/health")["X-Request-ID"], client.get("/api/health")["X-Request-ID"]
    assert a != b


def test_log_lines_written_while_serving_carry_the_request_id_as_json() -> None:
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep()
    handler.addFilter(requestid.RequestIdFilter())
    handler.setFormatter(SiyuJsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))
    log = logging.getLogger("siyu.tests.ops")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

    def view(request: HttpRequest) -> HttpResponse:
        log.info("paid order %s", 42)
        return HttpResponse("ok")

    try:
        request = HttpRequest()
        request.META["HTTP_X_REQUEST_ID"] = "trace-0001-abcd"
        requestid.RequestIdMiddleware(view)(request)
        log.info("outside a request")
    finally:
        log.removeHandler(handler)
    inside, outside = (json.loads(line) for line in lines)
    assert inside["message"] == "paid order 42" and inside["request_id"] == "trace-0001-abcd"
    assert inside["level"] == "INFO" and inside["logger"] == "siyu.tests.ops" and "T" in inside["time"]
    assert outside["request_id"] == ""


def test_metrics_are_hidden_without_a_token_and_refused_with_a_wrong_one(client: Client) -> None:
    assert client.get("/metrics").status_code == 404
    with override_settings(SIYU_METRICS_TOKEN=TOKEN):
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 401
        assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


@override_settings(SIYU_METRICS_TOKEN=TOKEN)
def test_requests_are_counted_by_route_pattern_not_by_path(client: Client) -> None:
    before = _scrape(client)
    client.get("/api/health")
    client.get("/api/health")
    for n in (1, 2, 3):
        client.get(f"/no-such-page-{n}/")
    after = _scrape(client)
    assert _requests(after, "api/health", "200") - _requests(before, "api/health", "200") == 2
    assert _requests(after, UNMATCHED, "404") - _requests(before, UNMATCHED, "404") == 3
    routes = {dict(labels)["route"] for name, labels in after if name == "siyu_http_requests_total"}
    assert not any("no-such-page" in route for route in routes)


@override_settings(SIYU_METRICS_TOKEN=TOKEN)
def test_queue_depth_and_callback_lag_are_read_from_the_database(client: Client) -> None:
    now = timezone.now()
    for age in (30, 300, 90):
        row = DBTaskResult.objects.create(
            status="READY", queue_name="metrics-test", task_path="siyu.tests.nothing", args_kwargs={"args": [],
            "kwargs": {}}, backend_name="default", run_after=now - timedelta(seconds=1), priority=0)
        DBTaskResult.objects.filter(pk=row.pk).update(enqueued_at=now - timedelta(seconds=age))
    for age, status in ((120, CallbackStatus.RECEIVED), (10, CallbackStatus.RECEIVED), (500, CallbackStatus.PROCESSED)):
        cb = InboundCallback.objects.create(kind=AccountKind.WECOM, status=status, event="change_external_contact")
        InboundCallback.objects.filter(pk=cb.pk).update(received_at=now - timedelta(seconds=age))

    samples = _scrape(client)
    queue = (("queue", "metrics-test"),)
    assert samples[("siyu_task_queue_depth", queue)] == 3
    assert 300 <= samples[("siyu_task_queue_oldest_age_seconds", queue)] < 400
    assert samples[("siyu_callbacks_waiting", ())] == 2
    assert 120 <= samples[("siyu_callback_intake_lag_seconds", ())] < 220
    assert samples[("siyu_callbacks_last_hour", (("kind", "wecom"), ("status", "processed")))] == 1
    assert samples[("siyu_analytics_up", ())] in (0.0, 1.0)


@override_settings(SIYU_METRICS_TOKEN=TOKEN)
def test_campaign_deliveries_open_failed_and_overdue_are_read_from_the_database(client: Client, org: Org) -> None:
    now = timezone.now()
    campaign = Campaign.objects.create(enterprise=org.enterprise, name="m", audience_kind="list", channels=["sms"],
                                       content={"sms": "x"}, status="sending")
    rows = [  # (channel, status, due seconds ago, next attempt seconds from now)
        ("sms", "planned", 400, None), ("sms", "planned", 50, 60),  # the second waits for its retry: not overdue
        ("sms", "planned", -600, None), ("sms", "sending", 10, None), ("wecom", "planned", 100, None),
        ("sms", "failed", 3600, None), ("sms", "failed", 3 * 86400, None), ("official_account", "failed", 60, None),
        ("sms", "sent", 30, None),
    ]
    for n, (channel, status, ago, retry) in enumerate(rows):
        customer = Customer.objects.create(enterprise=org.enterprise, name=f"m{n}", created_at=now)
        Delivery.objects.create(campaign=campaign, enterprise=org.enterprise, customer=customer, channel=channel,
                                key=f"campaign:{campaign.pk}:customer:{customer.pk}", status=status,
                                due_at=now - timedelta(seconds=ago), created_at=now,
                                next_attempt_at=None if retry is None else now + timedelta(seconds=retry))
    samples = _scrape(client)
    opened = {labels: v for (name, labels), v in samples.items() if name == "siyu_campaign_deliveries_open"}
    assert opened == {(("channel", "sms"), ("state", "planned")): 3, (("channel", "sms"), ("state", "sending")): 1,
                      (("channel", "wecom"), ("state", "planned")): 1}
    failed = {labels: v for (name, labels), v in samples.items()
              if name == "siyu_campaign_deliveries_failed_last_day"}
    assert failed == {(("channel", "official_account"),): 1, (("channel", "sms"),): 1}
    assert 400 <= samples[("siyu_campaign_deliveries_overdue_seconds", ())] < 500


@override_settings(SIYU_METRICS_TOKEN=TOKEN)
def test_the_callback_fast_path_is_counted_with_its_status(client: Client) -> None:
    async def fast(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 403, "headers": []})
        await send({"type": "http.response.body", "body": b"refused"})

    sent: list[Any] = []

    async def collect(message: Any) -> None:
        sent.append(message)

    async def nothing() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    before = _requests(_scrape(client), FAST_PATH, "403", "POST")
    for _ in range(2):
        asyncio.run(count_asgi(fast, FAST_PATH)({"type": "http", "method": "POST"}, nothing, collect))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"] * 2
    assert _requests(_scrape(client), FAST_PATH, "403", "POST") - before == 2


def test_ready_when_the_database_answers_and_migrations_are_applied(client: Client) -> None:
    ready.reset()
    response = client.get("/api/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_not_ready_while_a_migration_is_pending_or_the_database_is_down(client: Client,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db.migrations.executor import MigrationExecutor

    ready.reset()
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("pending", False)])
    response = client.get("/api/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "checks": {"database": "ok", "migrations": "failed"}}

    monkeypatch.setattr(ready, "_database", lambda: False)
    body = client.get("/api/ready").json()
    assert body == {"status": "not ready", "checks": {"database": "failed", "migrations": "failed"}}
    assert "postgres" not in json.dumps(body) and "sqlite" not in json.dumps(body)
    ready.reset()


def test_serve_gives_its_workers_one_empty_metrics_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.core.management.commands import serve

    directory = tmp_path / "m"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    serve._share_metrics_between_workers(8000)
    assert directory.is_dir() and list(directory.iterdir()) == []

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    with override_settings(VAR_DIR=tmp_path):
        serve._share_metrics_between_workers(8123)
    import os

    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "metrics-8123")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
