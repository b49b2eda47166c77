"""Address-book, tag and group syncs run by the worker, not inside the request: the request queues a job (202), the
worker runs it against the simulator, the console and the API show its status and figures; one open job per account
and kind (a second start returns it), a job whose worker died stops blocking after a while, HQ of the enterprise only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from siyu.channels.wecom import sync, sync_jobs
from siyu.channels.wecom.models import SyncJob, SyncRun
from siyu.core.models import AuditEntry
from siyu.core.timeutil import now
from siyu.org.models import DepartmentLink, Staff
from siyu.org.scope import scope_for_staff
from tests.channels.wecom.conftest import CORP_ID, Wecom
from tests.factories import EnterpriseFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
QUEUE_ONLY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}  # the worker is away


def _hq(w: Wecom) -> Client:
    client = Client()
    assert w.org.hq.user is not None
    client.force_login(w.org.hq.user)
    return client


def test_directory_sync_is_queued_run_by_the_worker_and_reported(wecom: Wecom) -> None:
    wecom.platform.add_department(CORP_ID, 2, "华北大区", 1)
    wecom.platform.add_member(CORP_ID, "new.guide", "新导购", department=[2])
    response = _hq(wecom).post(f"/api/channels/wecom/accounts/{wecom.account.pk}/directory/sync")
    assert response.status_code == 202
    body = response.json()
    assert (body["kind"], body["account_id"]) == ("directory", wecom.account.pk)
    job = SyncJob.objects.get(pk=body["id"])  # the immediate backend ran it once the request committed
    assert job.status == "done" and job.finished_at is not None
    assert (job.result["departments"], job.result["created"], job.result["left"]) == (2, 1, 0)
    assert sorted(DepartmentLink.objects.values_list("department_id", flat=True)) == [1, 2]
    assert Staff.objects.filter(wecom_userid="new.guide").exists()
    read = _hq(wecom).get(f"/api/channels/wecom/sync-jobs/{job.pk}").json()
    assert (read["status"], read["result"]["created"]) == ("done", 1)
    assert AuditEntry.objects.filter(action="wecom.sync_directory", target_id=str(wecom.account.pk)).count() == 1
    page = _hq(wecom).get("/channels/wecom/directory/").content.decode()
    assert f'data-sync-job="{job.pk}"' in page


def test_a_second_start_while_one_is_open_returns_it(wecom: Wecom, settings: Any) -> None:
    settings.TASKS = QUEUE_ONLY
    hq = _hq(wecom)
    first = hq.post(f"/api/channels/wecom/accounts/{wecom.account.pk}/groups/sync").json()
    second = hq.post(f"/api/channels/wecom/accounts/{wecom.account.pk}/groups/sync").json()
    assert first["id"] == second["id"] and first["status"] == "queued"
    other_kind = hq.post(f"/api/channels/wecom/accounts/{wecom.account.pk}/tags/sync").json()
    assert other_kind["id"] != first["id"]
    assert SyncJob.objects.filter(account=wecom.account, status="queued").count() == 2
    assert sync_jobs.run_sync_job(job_id=first["id"]) == "done"
    assert sync_jobs.run_sync_job(job_id=first["id"]) == "skipped"  # the worker ran twice: once is done
    assert SyncJob.objects.get(pk=first["id"]).result == {"groups": 0}
    third = hq.post(f"/api/channels/wecom/accounts/{wecom.account.pk}/groups/sync").json()
    assert third["id"] != first["id"]  # closed: a new run


def test_a_job_whose_worker_died_stops_blocking(wecom: Wecom, settings: Any) -> None:
    settings.TASKS = QUEUE_ONLY
    scope = scope_for_staff(wecom.org.hq)
    stuck = sync_jobs.start_sync_job(scope=scope, account_id=wecom.account.pk, kind="tags")
    SyncJob.objects.filter(pk=stuck.pk).update(status="running", created_at=now() - timedelta(minutes=31))
    fresh = sync_jobs.start_sync_job(scope=scope, account_id=wecom.account.pk, kind="tags")
    assert fresh.pk != stuck.pk
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "interrupted" in stuck.error
    recent = sync_jobs.start_sync_job(scope=scope, account_id=wecom.account.pk, kind="tags")
    assert recent.pk == fresh.pk  # a fresh open job still blocks


def test_a_wecom_refusal_fails_the_job_with_its_reason(wecom: Wecom) -> None:
    wecom.platform.corp(CORP_ID).refused["/cgi-bin/department/list"] = 48009
    _hq(wecom).post(f"/channels/wecom/accounts/{wecom.account.pk}/directory/sync/")
    job = SyncJob.objects.get(account=wecom.account, kind="directory")
    assert job.status == "failed" and "48009" in job.error
    hq = _hq(wecom)
    hq.cookies["django_language"] = "zh-hans"
    page = hq.get("/channels/wecom/directory/").content.decode()
    assert "企业微信同步" in page and "48009" in page


def test_console_buttons_queue_jobs_and_the_page_polls_while_open(wecom: Wecom, settings: Any) -> None:
    settings.TASKS = QUEUE_ONLY
    hq = _hq(wecom)
    for action in ("tags", "groups"):
        assert hq.post(f"/channels/wecom/accounts/{wecom.account.pk}/{action}/").status_code == 302
    assert sorted(SyncJob.objects.values_list("kind", "status")) == [("groups", "queued"), ("tags", "queued")]
    page = hq.get("/channels/").content.decode()
    assert 'id="sync-jobs" hx-get=' in page  # refreshed until they finish
    for job in SyncJob.objects.all():
        sync_jobs.run_sync_job(job_id=job.pk)
    assert 'id="sync-jobs" hx-get=' not in hq.get("/channels/").content.decode()


def test_only_hq_of_the_enterprise_starts_or_reads_a_sync(wecom: Wecom, settings: Any) -> None:
    settings.TASKS = QUEUE_ONLY
    path = f"/api/channels/wecom/accounts/{wecom.account.pk}/directory/sync"
    for staff in (wecom.org.north_manager, wecom.org.n1_manager, wecom.org.n1_staff):
        client = Client()
        assert staff.user is not None
        client.force_login(staff.user)
        assert client.post(path).status_code == 403
    other = EnterpriseFactory.create(name="Other", code="other")
    outsider = StaffFactory.create(enterprise=other, name="o", role="hq_admin", user=UserFactory.create(username="o"))
    client = Client()
    assert outsider.user is not None
    client.force_login(outsider.user)
    assert client.post(path).status_code == 404
    job = _hq(wecom).post(path).json()
    assert client.get(f"/api/channels/wecom/sync-jobs/{job['id']}").status_code == 404
    assert SyncJob.objects.count() == 1


def test_a_customer_sync_runs_once_per_account_at_a_time(wecom: Wecom, settings: Any) -> None:
    settings.TASKS = QUEUE_ONLY
    scope = scope_for_staff(wecom.org.hq)
    first = sync.start_sync(scope=scope, account_id=wecom.account.pk)
    assert sync.start_sync(scope=scope, account_id=wecom.account.pk).pk == first.pk
    SyncRun.objects.filter(pk=first.pk).update(started_at=now() - timedelta(hours=3))  # its worker died
    fresh = sync.start_sync(scope=scope, account_id=wecom.account.pk)
    assert fresh.pk != first.pk
    assert SyncRun.objects.get(pk=first.pk).status == "failed"
    assert SyncRun.objects.filter(account=wecom.account, status="running").count() == 1
