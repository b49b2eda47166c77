"""Address-book, tag and group syncs as worker jobs, with their progress and result for the console and the API.

Each sync pages through WeCom (hundreds of departments, thousands of groups on a large corp): in a request that is a
timeout and a click that seems to do nothing, so the request only queues a `SyncJob` and the worker runs it.

Decided here:
- One open job per account and kind (a partial unique constraint on queued/running): starting a sync while one is
  open returns the open one, so a double click or two operators at once run it once.
- A job whose worker died stays "running"; after STALE_AFTER it no longer blocks: the next start marks it failed
  ("interrupted") and queues a new one. Each sync is idempotent (it reconciles Siyu with WeCom), so running one again
  after a crash is safe.
- The worker calls the same functions the request called before (`directory.sync_directory`, `tags.sync_tags`,
  `groups.sync_groups`): they fetch from WeCom outside any transaction and write in short ones. The job row is
  updated outside them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.channels.wecom import directory, groups, tags
from siyu.channels.wecom.accounts import wecom_account
from siyu.channels.wecom.client import WecomError
from siyu.channels.wecom.models import OPEN_SYNC_JOB, SyncJob, SyncJobKind, SyncJobStatus
from siyu.core import audit, jobs
from siyu.core.audit import Actor
from siyu.core.errors import DomainError, PermissionDenied, ValidationFailed
from siyu.core.timeutil import now
from siyu.org.scope import Scope

TASK = "wecom.run_sync_job"
STALE_AFTER = timedelta(minutes=30)


def start_sync_job(*, scope: Scope, account_id: int, kind: str, actor: Actor = None) -> SyncJob:
    """Queue a sync of `kind` for the account, or return the one already open (HQ only)."""
    if not scope.is_hq:
        raise PermissionDenied(_("only HQ admins sync with WeCom"))
    if kind not in SyncJobKind.values:
        raise ValidationFailed(_("unknown sync %(kind)s") % {"kind": kind}, field="kind", code="unknown_kind")
    account = wecom_account(account_id, enterprise_id=scope.enterprise_id)
    SyncJob.objects.filter(account=account, kind=kind, status__in=OPEN_SYNC_JOB,
                           created_at__lt=now() - STALE_AFTER).update(
        status=SyncJobStatus.FAILED, error="interrupted: the worker stopped before it finished", finished_at=now())
    user = audit.user_of(actor)
    try:
        with transaction.atomic():
            job = SyncJob.objects.create(account=account, kind=kind, requested_by=user)
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action=f"wecom.sync_{kind}",
                         target_type="channel_account", target_id=account.pk,
                         summary=audit.text(N_("sync job %(job)s queued"), job=job.pk))
            transaction.on_commit(lambda: jobs.get(TASK).enqueue(job.pk), robust=True)
    except IntegrityError:
        open_job = SyncJob.objects.filter(account=account, kind=kind, status__in=OPEN_SYNC_JOB).first()
        if open_job is None:  # it finished between the insert and this read: start afresh
            return start_sync_job(scope=scope, account_id=account_id, kind=kind, actor=actor)
        return open_job
    return job


def run_sync_job(*, job_id: int) -> str:
    """Claim a queued job, run its sync, record the result. Safe to run twice: the second finds it claimed."""
    claimed = SyncJob.objects.filter(pk=job_id, status=SyncJobStatus.QUEUED).update(
        status=SyncJobStatus.RUNNING, started_at=now())
    if not claimed:
        return "skipped"
    job = SyncJob.objects.select_related("account", "requested_by").get(pk=job_id)
    scope = Scope.hq(job.account.enterprise_id)
    try:
        result = _run(job, scope)
    except (DomainError, WecomError) as exc:
        SyncJob.objects.filter(pk=job.pk).update(status=SyncJobStatus.FAILED, error=str(exc)[:255],
                                                 finished_at=now())
        return "failed"
    except Exception as exc:
        SyncJob.objects.filter(pk=job.pk).update(status=SyncJobStatus.FAILED, error=str(exc)[:255],
                                                 finished_at=now())
        raise
    SyncJob.objects.filter(pk=job.pk).update(status=SyncJobStatus.DONE, result=result, finished_at=now())
    return "done"


def _run(job: SyncJob, scope: Scope) -> dict[str, Any]:
    if job.kind == SyncJobKind.DIRECTORY:
        found = directory.sync_directory(scope=scope, account_id=job.account_id, actor=job.requested_by)
        return {"departments": found.departments, "new_departments": len(found.new_departments),
                "created": len(found.created), "moved": len(found.moved), "left": len(found.left),
                "unplaced": len(found.unplaced)}
    if job.kind == SyncJobKind.TAGS:
        return dict(tags.sync_tags(scope=scope, account_id=job.account_id))
    return {"groups": groups.sync_groups(scope=scope, account_id=job.account_id)}
