"""The one shape every sheet import has (the member import, the POS order-history import): the uploaded file kept
on disk and hashed on the way in (the same file again returns its first import), a column mapping fixed once the
job has started, the per-row report (refused rows with their column and reason), and a background job that commits
batch by batch with a checkpoint, so one whose worker died continues where it stopped and never writes a row twice.

What a row is, how it is checked and what a batch writes belong to each import; this module knows none of it. It
drives an import's model through the fields they all have: enterprise, filename, path, file_format, encoding,
file_hash, header, mapping, status (uploaded -> queued -> running -> done / failed), checkpoint_row, processed_rows,
total_rows, error_message, created_by, started_at, finished_at; and its error model: the import, row_number, field,
code, message, value."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrPromise

from siyu.core import audit, jobs
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

MAX_BYTES = 512 * 1024 * 1024
MAX_ERROR_ROWS = 100_000

UPLOADED, QUEUED, RUNNING, DONE, FAILED = "uploaded", "queued", "running", "done", "failed"

T = TypeVar("T")
Inspect = Callable[[Path], tuple[str, str, list[str]]]  # the file -> (format, encoding, header); ValidationFailed
CheckMapping = Callable[[Mapping[str, str], Sequence[str]], dict[str, str]]  # field -> reason, empty when usable


class ScopeLike(Protocol):
    @property
    def enterprise_id(self) -> int: ...

    @property
    def is_hq(self) -> bool: ...


class ProblemLike(Protocol):
    @property
    def field(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def value(self) -> str: ...


@dataclass(frozen=True)
class Kind:
    """One import: its models, where its files live, its audit names, its job and its own words."""

    model: Any
    error_model: Any
    error_fk: str  # the error model's foreign key to the import
    folder: str  # under MEDIA_ROOT
    action: str  # the audit actions' prefix
    target_type: str
    task: str
    hq_only: StrPromise
    missing: StrPromise
    counters: tuple[str, ...]  # zeroed when a job starts from the top

    def folder_of(self, enterprise_id: int) -> Path:
        folder = Path(settings.MEDIA_ROOT) / self.folder / str(enterprise_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def errors_of(self, import_id: int) -> QuerySet[Any]:
        return self.error_model.objects.filter(**{f"{self.error_fk}_id": import_id})


def require_hq(kind: Kind, scope: ScopeLike) -> None:
    if not scope.is_hq:
        raise PermissionDenied(kind.hq_only)


# ---------------------------------------------------------------------------------------------------------------
# Upload and mapping


def pieces(stream: IO[bytes] | bytes) -> Iterator[bytes]:
    if isinstance(stream, bytes):
        yield stream
        return
    chunks = getattr(stream, "chunks", None)
    if callable(chunks):  # a Django UploadedFile
        yield from chunks()
        return
    while piece := stream.read(1 << 20):
        yield piece


def _receive(folder: Path, stream: IO[bytes] | bytes) -> tuple[Path, str, int]:
    """The upload streamed into a temporary file beside its final place, hashed on the way, at most MAX_BYTES."""
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".upload") as tmp:
        for piece in pieces(stream):
            size += len(piece)
            if size > MAX_BYTES:
                tmp.close()
                Path(tmp.name).unlink(missing_ok=True)
                raise ValidationFailed(_("the file is larger than 512 MB"), field="file", code="too_large")
            digest.update(piece)
            tmp.write(piece)
    return Path(tmp.name), digest.hexdigest(), size


def upload(kind: Kind, *, scope: ScopeLike, stream: IO[bytes] | bytes, filename: str, actor: Actor,
           inspect: Inspect, suggest: Callable[[Sequence[str]], dict[str, str]]) -> Any:
    """Keep the sheet (streamed to disk, hashed on the way), read its header and suggest a mapping. The same file
    uploaded again returns the import it made the first time."""
    require_hq(kind, scope)
    folder = kind.folder_of(scope.enterprise_id)
    temp, file_hash, size = _receive(folder, stream)
    existing = kind.model.objects.filter(enterprise_id=scope.enterprise_id, file_hash=file_hash).first()
    if existing is not None:
        temp.unlink(missing_ok=True)
        return existing
    if size == 0:
        temp.unlink(missing_ok=True)
        raise ValidationFailed(_("the file is empty"), field="file", code="empty_file")
    try:
        file_format, encoding, header = inspect(temp)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    path = folder / f"{file_hash}.{file_format}"
    shutil.move(temp, path)
    with transaction.atomic():
        imp, created = kind.model.objects.get_or_create(
            enterprise_id=scope.enterprise_id, file_hash=file_hash,
            defaults={"filename": (filename or "")[:200], "path": str(path), "file_format": file_format,
                      "encoding": encoding, "header": header, "mapping": suggest(header),
                      "created_by": audit.user_of(actor)})
        if created:
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action=f"{kind.action}.upload",
                         target_type=kind.target_type, target_id=imp.pk, summary=f"{filename} ({file_format})")
    return imp


def get(kind: Kind, *, scope: ScopeLike, import_id: int) -> Any:
    require_hq(kind, scope)
    imp = kind.model.objects.filter(pk=import_id, enterprise_id=scope.enterprise_id).first()
    if imp is None:
        raise NotFound(kind.missing, field="import_id")
    return imp


def listing(kind: Kind, *, scope: ScopeLike) -> QuerySet[Any]:
    """The enterprise's imports of this kind, newest first (HQ only)."""
    require_hq(kind, scope)
    return kind.model.objects.filter(enterprise_id=scope.enterprise_id).order_by("-id")


def error_report(kind: Kind, *, import_id: int, scope: ScopeLike | None = None) -> QuerySet[Any]:
    """The rows an import refused, in sheet order. `scope` None is the command line (trusted)."""
    if scope is not None:
        get(kind, scope=scope, import_id=import_id)
    return kind.errors_of(import_id).order_by("row_number", "id")


def editable(imp: Any) -> bool:
    """The mapping (and the dry run's report) may change until the job has committed a batch."""
    return imp.status in (UPLOADED, FAILED) and not imp.checkpoint_row


def require_mapping(check: CheckMapping, mapping: Mapping[str, str], header: Sequence[str]) -> None:
    problems = check(mapping, header)
    if problems:
        key, reason = next(iter(problems.items()))
        raise ValidationFailed(reason, field=f"mapping.{key}", code="invalid_mapping")


def set_mapping(kind: Kind, *, scope: ScopeLike, import_id: int, mapping: Mapping[str, str], check: CheckMapping,
                actor: Actor) -> Any:
    imp = get(kind, scope=scope, import_id=import_id)
    if not editable(imp):
        raise Conflict(_("the import has started; its mapping is fixed"), field="mapping", code="started")
    clean = {k: v for k, v in mapping.items() if v}
    require_mapping(check, clean, imp.header)
    kind.model.objects.filter(pk=imp.pk).update(mapping=clean)
    imp.mapping = clean
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action=f"{kind.action}.mapping",
                 target_type=kind.target_type, target_id=imp.pk, changes={"mapping": clean})
    return imp


# ---------------------------------------------------------------------------------------------------------------
# The report


def error_rows(kind: Kind, import_id: int, problems: Iterable[tuple[int, ProblemLike]]) -> list[Any]:
    return [kind.error_model(**{f"{kind.error_fk}_id": import_id}, row_number=row_number, field=p.field, code=p.code,
                             message=p.message[:255], value=p.value[:128])
            for row_number, p in problems]


@dataclass
class Report:
    """The dry run's report, written in chunks as the file streams by, at most MAX_ERROR_ROWS sheet rows of it."""

    kind: Kind
    import_id: int
    chunk: int = 5000
    stored: int = 0
    pending: list[Any] = field(default_factory=list)

    def add(self, rows: int, problems: Iterable[tuple[int, ProblemLike]]) -> None:
        if self.stored < MAX_ERROR_ROWS:
            self.pending.extend(error_rows(self.kind, self.import_id, problems))
            self.stored += rows
        if len(self.pending) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        self.kind.error_model.objects.bulk_create(self.pending, ignore_conflicts=True)
        self.pending = []


def clear_report(kind: Kind, import_id: int) -> None:
    kind.errors_of(import_id).delete()


# ---------------------------------------------------------------------------------------------------------------
# The job


def start(kind: Kind, *, scope: ScopeLike, import_id: int, check: CheckMapping, actor: Actor,
          enqueue: bool = True) -> Any:
    """Queue the import (or re-queue one that failed: it continues from its checkpoint). Starting a queued, running
    or finished import changes nothing."""
    imp = get(kind, scope=scope, import_id=import_id)
    if imp.status == DONE:
        return imp  # idempotent: the same file imported again adds nothing
    require_mapping(check, imp.mapping, imp.header)
    with transaction.atomic():
        moved = kind.model.objects.filter(pk=imp.pk, status__in=[UPLOADED, FAILED]).update(
            status=QUEUED, error_message="")
        if moved:
            audit.record(enterprise_id=imp.enterprise_id, actor=actor, action=f"{kind.action}.start",
                         target_type=kind.target_type, target_id=imp.pk, summary=imp.filename)
            if enqueue:
                transaction.on_commit(lambda: jobs.get(kind.task).enqueue(imp.pk))
    imp.refresh_from_db()
    return imp


def resume_stale(kind: Kind, *, scope: ScopeLike, import_id: int, check: CheckMapping, actor: Actor) -> Any:
    """A job whose worker died stays "running": put it back in the queue (it continues from its checkpoint)."""
    imp = get(kind, scope=scope, import_id=import_id)
    kind.model.objects.filter(pk=imp.pk, status=RUNNING).update(status=FAILED, error_message="interrupted")
    return start(kind, scope=scope, import_id=import_id, check=check, actor=actor)


def batches(items: Iterable[T], *, skip_to: int, size: int, last_row: Callable[[T], int]) -> Iterator[list[T]]:
    """The items after the checkpoint in batches. Those before it were committed before a crash: the reader still
    streamed them, so what it remembers across the file (duplicates) stays the same."""
    batch: list[T] = []
    for item in items:
        if last_row(item) <= skip_to:
            continue
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def run(kind: Kind, *, import_id: int, work: Callable[[Any], None], done: Mapping[str, Any]) -> Any | None:
    """Claim a queued import and run `work(imp)` (which commits batch by batch); mark it done with `done`'s extra
    fields, or failed with the error (then re-raised). None when the import was not queued (another worker has it)."""
    claimed = kind.model.objects.filter(pk=import_id, status=QUEUED).update(status=RUNNING, started_at=timezone.now())
    if not claimed:
        return None
    imp = kind.model.objects.get(pk=import_id)
    if imp.checkpoint_row == 0:  # a fresh start: the dry run's report and counts are made again as batches commit
        clear_report(kind, imp.pk)
        kind.model.objects.filter(pk=imp.pk).update(**dict.fromkeys(("processed_rows", *kind.counters), 0))
    try:
        work(imp)
    except Exception as exc:
        kind.model.objects.filter(pk=imp.pk).update(status=FAILED, error_message=str(exc)[:255])
        raise
    kind.model.objects.filter(pk=imp.pk).update(status=DONE, finished_at=timezone.now(),
                                                total_rows=F("processed_rows"), **done)
    imp.refresh_from_db()
    return imp


def run_batches(imp: Any, parts: Iterable[Sequence[T]], commit: Callable[[Sequence[T]], None],
                progress: Callable[[Any], None] | None, after_batch: Callable[[int], None] | None) -> None:
    """Each batch committed by `commit` (one transaction with its checkpoint and counters), then the progress hook
    (the command line's bar) and `after_batch(k)` (tests crash there)."""
    for number, batch in enumerate(parts, start=1):
        commit(batch)
        if progress is not None:
            imp.refresh_from_db()
            progress(imp)
        if after_batch is not None:
            after_batch(number)
