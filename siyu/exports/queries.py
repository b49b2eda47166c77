"""Read paths over exports: a staff member sees only the exports they asked for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from siyu.core.errors import NotFound
from siyu.core.timeutil import SHANGHAI
from siyu.exports.models import ExportFormat, ExportJob, ExportKind, ExportStatus
from siyu.org.scope import Scope

# Choices for forms and schemas (they may not import models).
Kinds = ExportKind
Formats = ExportFormat
Statuses = ExportStatus


# Why a run failed, for the codes a run stores rather than a message (a lost worker, an unexpected exception's name).
LOST_WORKER = "worker_lost"
CODE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def error_text(job: ExportJob) -> str:
    """Why an export failed, in the reader's language: a refusal is stored as its message; a lost worker and an
    unexpected error are stored as a code, which is told by its meaning (the code beside it, for support)."""
    if not job.error or not CODE.fullmatch(job.error):
        return job.error
    if job.error == LOST_WORKER:
        return str(_("the worker running it was lost too many times; start the export again"))
    return str(_("the export stopped with an error (%(code)s); start it again") % {"code": job.error})


def export_dir() -> Path:
    path = Path(getattr(settings, "SIYU_EXPORT_DIR", settings.VAR_DIR / "exports"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def exports(scope: Scope, user: Any) -> QuerySet[ExportJob]:
    return ExportJob.objects.filter(enterprise_id=scope.enterprise_id, requested_by_id=user.pk)


def get_export(scope: Scope, user: Any, export_id: int) -> ExportJob:
    found = exports(scope, user).filter(pk=export_id).first()
    if found is None:
        raise NotFound(_("export %(export_id)s not found") % {"export_id": export_id}, field="export_id")
    return found


def download(scope: Scope, user: Any, export_id: int) -> tuple[ExportJob, Path]:
    """A finished export of the caller's and its file (named by its unguessable token); NotFound otherwise."""
    found = exports(scope, user).filter(pk=export_id, status=ExportStatus.DONE).exclude(file_name="").first()
    path = export_dir() / found.file_name if found is not None else None
    if found is None or path is None or not path.is_file():
        raise NotFound(_("no such export, or it is not ready"), field="token")
    return found, path


def download_name(job: ExportJob) -> str:
    stamp = (job.finished_at or job.created_at).astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")
    return f"{job.kind}-{stamp}.{job.file_format}"


def unfinished(jobs: list[ExportJob]) -> bool:
    return any(job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING) for job in jobs)
