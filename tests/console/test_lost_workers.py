"""A worker that dies mid-run (killed, out of memory) leaves its export or coupon batch "running" with a heartbeat
that stops; the periodic job puts runs whose lease expired back in the queue (the console says "retrying"), the next
worker finishes them with nothing done twice, and a run that keeps losing its worker is stopped, not retried forever.
The death is played by an interrupt the run's own error handling does not catch (as a kill would skip it)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone, translation

from siyu.core import leases
from siyu.core.money import Money
from siyu.customers import services as customer_services
from siyu.exports import queries as export_queries
from siyu.exports import services as export_services
from siyu.exports import sheets
from siyu.exports.models import ExportJob
from siyu.org.scope import scope_for_staff
from siyu.promotions import queries as promotion_queries
from siyu.promotions import services
from siyu.promotions.models import Coupon, CouponBatch, CouponQuota
from siyu.promotions.services import CouponTemplateInput
from tests.conftest import Org
from tests.console.conftest import People

pytestmark = pytest.mark.django_db
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


class WorkerKilled(BaseException):
    """What a kill looks like from inside the run: nothing after it runs, not even `except Exception`."""


@pytest.fixture(autouse=True)
def _tasks_run_now(settings: Any, tmp_path: Any) -> None:
    settings.TASKS = IMMEDIATE
    settings.SIYU_EXPORT_DIR = tmp_path / "exports"


def _dead_export(org: Org, monkeypatch: pytest.MonkeyPatch) -> ExportJob:
    """An export whose worker died while writing the file."""
    job = export_services.start_export(scope=scope_for_staff(org.hq), actor=org.hq.user, kind="customers",
                                       file_format="csv", filters={})

    def killed(*args: Any, **kwargs: Any) -> int:
        raise WorkerKilled

    with monkeypatch.context() as patch:
        patch.setattr(sheets, "write_csv", killed)
        with pytest.raises(WorkerKilled):
            export_services.run_export(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_an_export_whose_worker_died_is_retried_and_finished(
        client: Client, org: Org, people: People, monkeypatch: pytest.MonkeyPatch,
        django_capture_on_commit_callbacks: Any) -> None:
    job = _dead_export(org, monkeypatch)
    assert (job.status, job.attempts, job.worker) == ("running", 1, leases.worker_name())
    assert job.heartbeat_at is not None
    # within the lease nothing happens: the worker may be alive and busy
    assert export_services.requeue_lost_exports(now=job.heartbeat_at + timedelta(seconds=60)).retried == []
    later = job.heartbeat_at + timedelta(seconds=leases.LEASE_S + 1)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        outcome = export_services.requeue_lost_exports(now=later)
    assert (outcome.retried, outcome.stopped) == ([job.pk], [])
    job.refresh_from_db()
    assert (job.status, job.worker, job.retrying) == ("queued", "", True)
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    page = client.get("/exports/").content.decode()
    assert "重试中（第 2 次）" in page
    for callback in queued:  # the worker picks it up again
        callback()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.total_rows, job.done_rows) == ("done", 2, 3, 3)
    body = b"".join(client.get(f"/exports/{job.pk}/download/").streaming_content)  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8").lstrip("\ufeff"))))
    assert sorted(row[1] for row in rows[1:]) == ["Ada Wang", "Bob Li", "Cai Zhang"]
    assert "重试中" not in client.get("/exports/").content.decode()


def test_a_run_that_keeps_losing_its_worker_is_stopped(client: Client, org: Org, people: People,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    job = _dead_export(org, monkeypatch)
    assert job.heartbeat_at is not None
    ExportJob.objects.filter(pk=job.pk).update(attempts=leases.MAX_ATTEMPTS)
    outcome = export_services.requeue_lost_exports(now=job.heartbeat_at + timedelta(seconds=leases.LEASE_S + 1))
    assert (outcome.retried, outcome.stopped) == ([], [job.pk])
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "worker_lost")
    # the requester reads why in Chinese, not the stored code
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    page = client.get("/exports/").content.decode()
    assert "执行它的后台进程多次中断，请重新导出" in page and "worker_lost" not in page


@pytest.mark.parametrize(("stored", "shown"), [
    ("worker_lost", "执行它的后台进程多次中断，请重新导出"),
    ("OperationalError", "导出因错误中止（OperationalError），请重新导出"),
    ("筛选条件 channel 的取值无效", "筛选条件 channel 的取值无效"),  # a refusal is stored as its message already
    ("", ""),
])
def test_a_failed_export_says_why_in_the_readers_language(org: Org, stored: str, shown: str) -> None:
    assert org.hq.user is not None
    job = ExportJob(enterprise=org.enterprise, requested_by=org.hq.user, kind="customers", file_format="csv",
                    status="failed", error=stored)
    with translation.override("zh-hans"):
        assert export_queries.error_text(job) == shown


def test_a_coupon_batch_whose_worker_died_after_one_chunk_issues_nobody_twice(
        client: Client, org: Org, people: People, monkeypatch: pytest.MonkeyPatch,
        django_capture_on_commit_callbacks: Any) -> None:
    template = services.create_coupon_template(scope=scope_for_staff(org.hq), data=CouponTemplateInput(
        name="满99减20", kind="threshold", amount_off=Money(2000), threshold=Money(9900), valid_days=7,
        per_customer_limit=1))
    customer_services.tag_customers(enterprise_id=org.enterprise.pk, customer_ids=[people.bob.pk, people.cai.pk],
                                    tag_ids=[people.vip.pk])
    scope = scope_for_staff(org.hq)
    batch = services.start_coupon_batch(scope=scope, template_id=template.pk, batch_key="k" * 32,
                                        targets=services.tag_batch_targets(scope, tag_ids=[people.vip.pk]))
    monkeypatch.setattr(services, "BATCH_CHUNK", 1)  # one customer a chunk: the worker dies between chunks
    real_chunk, calls = services._issue_chunk, []

    def dies_on_the_second_chunk(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        if len(calls) == 2:
            raise WorkerKilled
        return real_chunk(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(services, "_issue_chunk", dies_on_the_second_chunk)
        with pytest.raises(WorkerKilled):
            services.run_coupon_batch(batch_id=batch.pk)
    batch.refresh_from_db()
    assert (batch.status, batch.done, batch.issued) == ("running", 1, 1)
    assert batch.heartbeat_at is not None
    assert services.run_coupon_batch(batch_id=batch.pk) == "skipped"  # still leased: another worker keeps off
    with django_capture_on_commit_callbacks(execute=False) as queued:
        outcome = services.requeue_lost_batches(now=batch.heartbeat_at + timedelta(seconds=leases.LEASE_S + 1))
    assert outcome.retried == [batch.pk]
    batch.refresh_from_db()
    assert (batch.status, batch.done, batch.skipped, batch.issued, batch.retrying) == ("queued", 0, 0, 1, True)
    assert org.hq.user is not None
    client.force_login(org.hq.user)
    assert "重试中（第 2 次）" in client.get(f"/promotions/coupons/batches/{batch.pk}/").content.decode()
    for callback in queued:
        callback()
    batch.refresh_from_db()
    assert (batch.status, batch.total, batch.done, batch.issued, batch.skipped) == ("done", 3, 3, 3, 0)
    holders = list(Coupon.objects.filter(template=template).values_list("customer_id", flat=True))
    assert sorted(holders) == sorted([people.ada.pk, people.bob.pk, people.cai.pk])  # one each
    assert set(CouponQuota.objects.filter(template=template).values_list("issued", flat=True)) == {1}
    template.refresh_from_db()
    assert template.issued_count == 3


def test_live_runs_and_finished_runs_are_left_alone(org: Org, people: People) -> None:
    now = timezone.now()
    assert org.hq.user is not None
    job = export_services.start_export(scope=scope_for_staff(org.hq), actor=org.hq.user, kind="customers",
                                       file_format="csv", filters={})
    assert leases.claim(ExportJob, job.pk, queued="queued", running="running", now=now)
    assert not leases.claim(ExportJob, job.pk, queued="queued", running="running", now=now)  # claimed once
    ExportJob.objects.create(enterprise=org.enterprise, requested_by=org.hq.user, kind="customers",
                             file_format="csv", status="done", heartbeat_at=now - timedelta(days=1), attempts=1)
    outcome = export_services.requeue_lost_exports(now=now + timedelta(seconds=leases.LEASE_S - 1))
    assert (outcome.retried, outcome.stopped) == ([], [])
    assert list(CouponBatch.objects.all()) == []


def test_a_stopped_coupon_batch_says_why_in_the_readers_language() -> None:
    with translation.override("zh-hans"):
        assert promotion_queries.batch_error(CouponBatch(error="worker_lost")) == "执行它的后台进程多次中断，请重新发放"
        assert promotion_queries.batch_error(CouponBatch(error="")) == ""
