"""Prometheus metrics (prometheus_client), served at /metrics to a scraper holding SIYU_METRICS_TOKEN.

Two kinds:
- counted as they happen, in each web process: requests by route and status, with their duration (the Django
  middleware below and the WeCom callback fast path, which runs ahead of Django). Under `siyu serve --workers N`
  the processes share them through prometheus_client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by `serve`).
- read from the database when scraped, so every process answers the same: task queue depth and oldest age per
  queue, callback intake (waiting, lag, by status over the last hour), mass-send deliveries by state, campaign
  deliveries still to send (by channel and state), failed in the last day and the most overdue one's lateness, and
  the age of the analytics copy.

Without SIYU_METRICS_TOKEN the endpoint answers 404: metrics name routes, queues and volumes, which is nobody's
business but the operator's, and a loopback rule would let anyone in behind a reverse proxy on the same machine.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

REQUESTS = Counter("siyu_http_requests", "HTTP requests served, by route pattern, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("siyu_http_request_duration_seconds", "Time to answer an HTTP request, by route pattern",
                    ["route", "method"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
UNMATCHED = "(unmatched)"
FAST_PATH = "channels/wecom/callback/<int:account_id>/ (fast path)"


def observe(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


def route_of(request: HttpRequest) -> str:
    """The URL pattern, not the path: a label per customer id would grow without bound."""
    match = getattr(request, "resolver_match", None)
    return str(match.route) if match is not None and match.route else UNMATCHED


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        observe(route_of(request), request.method or "", response.status_code, time.perf_counter() - started)
        return response


ASGIApp = Callable[[Any, Any, Any], Coroutine[Any, Any, None]]


def count_asgi(app: ASGIApp, route: str) -> ASGIApp:
    """Wrap an ASGI handler that bypasses Django so its requests are counted too."""

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        status = 500

        async def watch(message: Any) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)

        try:
            await app(scope, receive, watch)
        finally:
            observe(route, str(scope.get("method", "")), status, time.perf_counter() - started)

    return counted


class DatabaseCollector(Collector):
    """What the database says at scrape time. Each query is an aggregate over an index; none reads rows."""

    def collect(self) -> Iterator[Metric]:
        yield from self._tasks()
        yield from self._callbacks()
        yield from self._deliveries()
        yield from self._analytics()

    def _tasks(self) -> Iterator[Metric]:
        from siyu.core import jobs

        depth = GaugeMetricFamily("siyu_task_queue_depth", "Tasks waiting to run, by queue", labels=["queue"])
        oldest = GaugeMetricFamily("siyu_task_queue_oldest_age_seconds",
                                   "Age of the oldest task waiting to run, by queue", labels=["queue"])
        now = timezone.now()
        rows = _db_queues() if jobs.default_transactional() else _redis_queues()
        for queue, count, first in rows:
            depth.add_metric([queue], count)
            oldest.add_metric([queue], max(0.0, (now - first).total_seconds()) if first else 0.0)
        yield depth
        yield oldest

    def _callbacks(self) -> Iterator[Metric]:
        from siyu.channels.models import CallbackStatus, InboundCallback

        now = timezone.now()
        waiting = InboundCallback.objects.filter(status=CallbackStatus.RECEIVED)
        summary = waiting.aggregate(n=Count("id"), first=Min("received_at"))
        count = GaugeMetricFamily("siyu_callbacks_waiting", "Callbacks accepted and not yet processed")
        count.add_metric([], summary["n"] or 0)
        lag = GaugeMetricFamily("siyu_callback_intake_lag_seconds",
                                "Age of the oldest callback accepted and not yet processed (0 when none waits)")
        lag.add_metric([], max(0.0, (now - summary["first"]).total_seconds()) if summary["first"] else 0.0)
        recent = GaugeMetricFamily("siyu_callbacks_last_hour",
                                   "Callbacks received in the last hour, by kind and status", labels=["kind", "status"])
        rows = (InboundCallback.objects.filter(received_at__gte=now - timedelta(hours=1))
                .values("kind", "status").annotate(n=Count("id")).order_by("kind", "status"))
        for row in rows:
            recent.add_metric([row["kind"], row["status"]], row["n"])
        yield count
        yield lag
        yield recent

    def _deliveries(self) -> Iterator[Metric]:
        from siyu.channels.wecom.models import MassSendSender
        from siyu.messaging.models import Delivery, DeliveryStatus

        family = GaugeMetricFamily("siyu_deliveries", "Mass-send deliveries (one per sender and slice), by state",
                                   labels=["channel", "state"])
        for row in MassSendSender.objects.values("status").annotate(n=Count("id")).order_by("status"):
            family.add_metric(["wecom", row["status"]], row["n"])
        yield family
        # Campaign and journey sends (messaging.Delivery), read through the (status, due_at) index: the open ones by
        # channel, the failures of the last day, and how late the most overdue due send is (stuck sending alerts).
        at = timezone.now()
        open_states = [DeliveryStatus.PLANNED, DeliveryStatus.SENDING, DeliveryStatus.WAITING]
        pending = GaugeMetricFamily("siyu_campaign_deliveries_open", "Campaign deliveries not yet sent, by channel "
                                    "and state", labels=["channel", "state"])
        for row in Delivery.objects.filter(status__in=open_states).values("channel", "status").annotate(
                n=Count("id")).order_by("channel", "status"):
            pending.add_metric([row["channel"], row["status"]], row["n"])
        yield pending
        failed = GaugeMetricFamily("siyu_campaign_deliveries_failed_last_day", "Campaign deliveries that failed, "
                                   "due in the last 24 hours, by channel", labels=["channel"])
        for channel, n in Delivery.objects.filter(status=DeliveryStatus.FAILED, due_at__gte=at - timedelta(
                days=1)).values("channel").annotate(n=Count("id")).order_by("channel").values_list("channel", "n"):
            failed.add_metric([channel], n)
        yield failed
        oldest = Delivery.objects.filter(status=DeliveryStatus.PLANNED, due_at__lte=at).filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=at)).aggregate(first=Min("due_at"))["first"]
        overdue = GaugeMetricFamily("siyu_campaign_deliveries_overdue_seconds", "How long the most overdue campaign "
                                    "delivery has been due (0 when none is waiting past its time)")
        overdue.add_metric([], max(0.0, (at - oldest).total_seconds()) if oldest else 0.0)
        yield overdue

    def _analytics(self) -> Iterator[Metric]:
        from siyu.analytics.engine import EngineUnavailable, RemoteEngine
        from siyu.analytics.engine.server import database_fingerprint

        up = GaugeMetricFamily("siyu_analytics_up", "1 when the `siyu analytics` process answers for this database")
        age = GaugeMetricFamily("siyu_analytics_copy_age_seconds", "How old the analytics copy's newest data is")
        try:
            status = RemoteEngine(settings.SIYU_ANALYTICS_URL).status(timeout=0.5)
        except EngineUnavailable:
            status = {}
        ok = status.get("fingerprint") == database_fingerprint() and bool(status.get("as_of"))
        up.add_metric([], 1 if ok else 0)
        yield up
        if ok:
            as_of = datetime.fromisoformat(str(status["as_of"]))
            age.add_metric([], max(0.0, (timezone.now() - as_of).total_seconds()))
            yield age


def registry() -> CollectorRegistry:
    """The registry a scrape reads: this process's own counters, or every web process's under multiprocess mode,
    plus the database's figures."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        scrape = CollectorRegistry()
        MultiProcessCollector(scrape)
    else:
        from prometheus_client import REGISTRY

        scrape = CollectorRegistry()
        scrape.register(_Forward(REGISTRY))
    scrape.register(DatabaseCollector())
    return scrape


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


def authorised(request: HttpRequest) -> bool:
    token = settings.SIYU_METRICS_TOKEN
    offered = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(offered.encode(), f"Bearer {token}".encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.SIYU_METRICS_TOKEN:
        raise Http404
    if not authorised(request):
        return HttpResponse("a valid metrics token is required\n", status=401, content_type="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def _db_queues() -> list[tuple[str, int, datetime | None]]:
    from django_tasks_db.models import DBTaskResult

    rows = (DBTaskResult.objects.ready().values("queue_name")
            .annotate(n=Count("id"), first=Min("enqueued_at")).order_by("queue_name"))
    return [(row["queue_name"], row["n"], row["first"]) for row in rows]


def _redis_queues() -> list[tuple[str, int, datetime | None]]:
    """RQ's queues: the jobs waiting in each and the enqueue time of the one at its head (the oldest)."""
    import django_rq

    out: list[tuple[str, int, datetime | None]] = []
    for name in getattr(settings, "RQ_QUEUES", {}):
        queue = django_rq.get_queue(name)
        head = queue.get_job_ids(0, 1)
        job = queue.fetch_job(head[0]) if head else None
        first = job.enqueued_at if job is not None else None
        if first is not None and timezone.is_naive(first):
            first = timezone.make_aware(first, UTC)
        out.append((name, queue.count, first))
    return out
