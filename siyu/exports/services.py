"""Background exports: `start_export` records the job (audited, once per idempotency key) and queues it;
`run_export` writes the file in the worker, chunk by chunk, with its progress on the row."""

from __future__ import annotations

import os
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_
from django.utils.translation import pgettext_lazy

from siyu.core import audit, jobs, leases
from siyu.core.errors import Conflict, PermissionDenied, ValidationFailed
from siyu.exports import sheets
from siyu.exports.models import ExportFormat, ExportJob, ExportKind, ExportStatus
from siyu.exports.queries import export_dir
from siyu.org.scope import Scope, scope_for_user

TASK = "exports.run_export"
MAX_OPEN_PER_REQUESTER = 3
# The kinds as the audit summary names them (stored as audit.Label(kind, context="export of"), read translated).
EXPORT_KINDS = {"customers": pgettext_lazy("export of", "customers"), "orders": pgettext_lazy("export of", "orders")}


def start_export(*, scope: Scope, actor: Any, kind: str, file_format: str, filters: dict[str, Any],
                 language: str = "zh-hans", idempotency_key: str = "") -> ExportJob:
    """Queue an export of what `filters` selects in the requester's scope. A repeat of a key returns its job."""
    if kind not in ExportKind.values:
        raise ValidationFailed(_("kind is one of %(join)s") % {"join": ', '.join(ExportKind.values)}, field="kind",
                               code="unknown_kind")
    if file_format not in ExportFormat.values:
        raise ValidationFailed(
            _("format is one of %(join)s") % {"join": ', '.join(ExportFormat.values)},
            field="format",
            code="unknown_format",
        )
    flt = sheets.build_filter(kind, filters)  # refuses unknown or malformed filters before anything is written
    key = idempotency_key.strip()[:128]
    with transaction.atomic():
        if key:
            first = ExportJob.objects.filter(requested_by_id=actor.pk, idempotency_key=key).first()
            if first is not None:
                return first
        open_jobs = ExportJob.objects.select_for_update().filter(
            requested_by_id=actor.pk, status__in=[ExportStatus.QUEUED, ExportStatus.RUNNING])
        if len(open_jobs) >= MAX_OPEN_PER_REQUESTER:
            raise Conflict(
                _("at most %(MAX_OPEN_PER_REQUESTER)s exports run at once; wait for one to finish")
                % {"MAX_OPEN_PER_REQUESTER": MAX_OPEN_PER_REQUESTER},
                code="too_many_exports",
            )
        job = ExportJob.objects.create(
            enterprise_id=scope.enterprise_id, requested_by_id=actor.pk, kind=kind, file_format=file_format,
            filters=sheets.filter_json(flt), language=(language or "zh-hans")[:16], idempotency_key=key,
        )
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action=f"{kind[:-1]}.export",
                     target_type="export", target_id=job.pk,
                     summary=audit.text(N_("export of %(kind)s (%(format)s) queued (%(scope)s)"),
                                        kind=audit.Label(kind, context="export of"), format=file_format,
                                        scope=scope.label or scope.role),
                     changes={"filter": job.filters, "format": file_format})
        transaction.on_commit(lambda: jobs.get(TASK).enqueue(job.pk))
    return job


def _claim(job_id: int) -> ExportJob | None:
    claimed = leases.claim(ExportJob, job_id, queued=ExportStatus.QUEUED, running=ExportStatus.RUNNING,
                           started_at=timezone.now())
    return ExportJob.objects.select_related("requested_by").get(pk=job_id) if claimed else None


def _enqueue(job_id: int) -> None:
    jobs.get(TASK).enqueue(job_id)


def requeue_lost_exports(*, now: datetime | None = None) -> leases.Requeued:
    """Exports whose worker died mid-run (lease expired) go back in the queue, to be written again from the start;
    after a few lost workers an export is stopped. Periodic (the exports app registers it)."""
    outcome = leases.requeue_expired(ExportJob, queued=ExportStatus.QUEUED, running=ExportStatus.RUNNING,
                                     failed=ExportStatus.FAILED, now=now, reset={"done_rows": 0})
    for job_id in outcome.retried:
        transaction.on_commit(partial(_enqueue, job_id))
    return outcome


def run_export(*, job_id: int) -> str:
    """Write the export's file (safe to run twice: a second run finds the job claimed). Progress is saved after each
    chunk in its own short write; the file appears under its final name only when complete."""
    job = _claim(job_id)
    if job is None:
        return "skipped"
    part = export_dir() / f"{job.token}.part"
    try:
        scope = scope_for_user(job.requested_by)
        if scope.enterprise_id != job.enterprise_id:
            raise PermissionDenied(_("the requester no longer belongs to this enterprise"))
        with translation.override(job.language):
            qs, make = sheets.sheet_for(scope, job.kind, job.filters)
            total = qs.count()
            ExportJob.objects.filter(pk=job.pk).update(total_rows=total)

            def progress(done: int) -> None:  # also the lease's heartbeat
                ExportJob.objects.filter(pk=job.pk).update(done_rows=done, heartbeat_at=timezone.now())

            if job.file_format == ExportFormat.CSV:
                with part.open("w", encoding="utf-8", newline="") as out:
                    count = sheets.write_csv(make(), out, progress)
            else:
                count = sheets.write_xlsx(make(), part, progress)
        name = f"{job.token}.{job.file_format}"
        os.replace(part, export_dir() / name)
    except Exception as exc:  # noqa: BLE001  (any failure is the job's outcome, shown to the requester)
        part.unlink(missing_ok=True)
        message = exc.message if isinstance(exc, PermissionDenied | ValidationFailed) else type(exc).__name__
        ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.FAILED, error=str(message)[:255],
                                                   finished_at=timezone.now())
        return "failed"
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.DONE, done_rows=count, total_rows=max(total, count), file_name=name,
        file_size=(export_dir() / name).stat().st_size, finished_at=timezone.now())
    return "done"


filter_json = sheets.filter_json
