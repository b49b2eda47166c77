"""Writes to the content library. HQ creates and edits (require_editor); every role's sidebar records uses.

A file is checked and stored before the row's transaction (no storage call holds a database transaction open) and
removed again when the row is not written, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop as N_

from siyu.catalog import queries as catalog_queries
from siyu.channels.wecom import moments as wecom_moments
from siyu.channels.wecom import queries as wecom_queries
from siyu.channels.wecom.client import WecomError
from siyu.content import moment_media, uploads
from siyu.content.models import (
    ContentUse,
    Folder,
    Material,
    MaterialKind,
    MomentPlan,
    MomentPost,
    MomentReaction,
    PersonaType,
    PlanStatus,
    ReactionKind,
    Scenario,
    Script,
    StaffPersona,
    Stage,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    UseKind,
)
from siyu.content.variables import variables_in
from siyu.core import audit
from siyu.core.audit import Actor, user_of
from siyu.core.errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationFailed
from siyu.customers import queries as customer_queries
from siyu.org import queries as org_queries
from siyu.org.scope import Scope

log = logging.getLogger(__name__)

FILE_KINDS: dict[str, str] = {MaterialKind.IMAGE: "image", MaterialKind.POSTER: "poster", MaterialKind.VIDEO: "video",
              MaterialKind.FILE: "file"}
STEP_KINDS = ("hook", "value", "proof", "cta")
MAX_STEPS = 8
MAX_STEP_CHARS = 1000
MAX_TEXT_CHARS = 4000  # WeCom's text limit is 4000 bytes for mass sends; a material stays within it


def require_editor(scope: Scope) -> None:
    if not scope.is_hq:
        raise PermissionDenied(_("the content library is managed by HQ"))


@dataclass(frozen=True)
class Upload:
    stream: IO[bytes]
    name: str
    size: int | None


@dataclass(frozen=True)
class MaterialInput:
    kind: str
    title: str
    text: str = ""
    url: str = ""
    mp_appid: str = ""
    mp_page: str = ""
    folder_id: int | None = None
    stage: str = ""
    scenario: str = ""
    product_id: int | None = None


@dataclass(frozen=True)
class StepInput:
    step: str
    text: str


@dataclass(frozen=True)
class ScriptInput:
    title: str
    scenario: str
    steps: Sequence[StepInput]
    fallbacks: dict[str, str] = field(default_factory=dict)
    material_id: int | None = None
    stage: str = ""
    product_id: int | None = None


# ---------------------------------------------------------------------------------------------------------------
# Folders


def create_folder(*, scope: Scope, name: str, actor: Actor = None) -> Folder:
    require_editor(scope)
    name = name.strip()
    if not name:
        raise ValidationFailed(_("a folder needs a name"), field="name", code="folder_name_required")
    if len(name) > 64:
        raise ValidationFailed(_("at most 64 characters"), field="name", code="folder_name_length")
    try:
        with transaction.atomic():
            folder = Folder.objects.create(enterprise_id=scope.enterprise_id, name=name)
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.folder_create",
                         target_type="content_folder", target_id=folder.pk, summary=name)
    except IntegrityError as exc:
        raise ValidationFailed(_("a folder of that name exists"), field="name", code="duplicate") from exc
    return folder


def _folder(scope: Scope, folder_id: int | None) -> int | None:
    if folder_id is None:
        return None
    if not Folder.objects.filter(enterprise_id=scope.enterprise_id, pk=folder_id).exists():
        raise ValidationFailed(_("folder %(folder_id)s not found") % {"folder_id": folder_id}, field="folder_id",
                               code="folder_not_found")
    return folder_id


def _product(scope: Scope, product_id: int | None) -> int | None:
    if product_id is None:
        return None
    if not catalog_queries.products(scope).filter(pk=product_id).exists():
        raise ValidationFailed(_("product %(product_id)s not found") % {"product_id": product_id}, field="product_id",
                               code="product_not_found")
    return product_id


def _choice(value: str, choices: Any, field_name: str) -> str:
    if value not in choices.values:
        raise ValidationFailed(
            _("unknown %(field_name)s %(value)s") % {"field_name": field_name, "value": repr(value)},
            field=field_name,
            code="unknown",
        )
    return value


# ---------------------------------------------------------------------------------------------------------------
# Materials


def _check_url(url: str, field_name: str = "url") -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed(_("a link must start with http:// or https://"), field=field_name,
                               code="link_format")
    return url


def _title(value: str) -> str:
    title = value.strip()
    if not title:
        raise ValidationFailed(_("a title is required"), field="title", code="title_required")
    if len(title) > 120:
        raise ValidationFailed(_("at most 120 characters"), field="title", code="title_length")
    return title


def _kind_fields(kind: str, data: MaterialInput, text: str, *, has_file: bool) -> dict[str, Any]:
    """What each kind requires beyond a title."""
    if kind == MaterialKind.TEXT:
        if not text:
            raise ValidationFailed(_("a text material needs its text"), field="text", code="text_required")
        if has_file:
            raise ValidationFailed(_("a text material takes no file"), field="file", code="file_not_allowed")
        variables_in(text)
        return {}
    if kind in FILE_KINDS:
        if not has_file:
            raise ValidationFailed(_("choose a file to upload"), field="file", code="file_required")
        return {}
    if kind == MaterialKind.LINK:
        return {"url": _check_url(data.url)}
    if not data.mp_appid.strip():
        raise ValidationFailed(_("a mini-program card needs the mini-program's appid"), field="mp_appid",
                               code="appid_required")
    page = data.mp_page.strip()
    if not page.split("?")[0].endswith(".html"):
        raise ValidationFailed(_("the page path must end in .html (as WeCom requires)"), field="mp_page",
                               code="page_path_format")
    return {"mp_appid": data.mp_appid.strip()[:64], "mp_page": page[:255]}


def _check_material(data: MaterialInput, *, has_file: bool) -> dict[str, Any]:
    """The row's fields for the kind, or ValidationFailed naming the field."""
    kind = _choice(data.kind, MaterialKind, "kind")
    if len(data.text) > MAX_TEXT_CHARS:
        raise ValidationFailed(
            _("at most %(MAX_TEXT_CHARS)s characters") % {"MAX_TEXT_CHARS": MAX_TEXT_CHARS},
            field="text",
            code="text_length",
        )
    text = data.text.strip()
    values: dict[str, Any] = {"kind": kind, "title": _title(data.title), "text": text,
                              "stage": _choice(data.stage, Stage, "stage"),
                              "scenario": _choice(data.scenario, Scenario, "scenario") if data.scenario else ""}
    values.update(_kind_fields(kind, data, text, has_file=has_file))
    return values


def create_material(*, scope: Scope, data: MaterialInput, upload: Upload | None = None,
                    actor: Actor = None) -> Material:
    require_editor(scope)
    values = _check_material(data, has_file=upload is not None)
    values.update(folder_id=_folder(scope, data.folder_id), product_id=_product(scope, data.product_id))
    stored = None
    if upload is not None:
        rule = FILE_KINDS.get(data.kind, "cover")
        checked = uploads.check_upload(upload.stream, name=upload.name, size=upload.size, rule_name=rule)
        stored = uploads.store(checked, enterprise_id=scope.enterprise_id)
        values.update(file=stored.name, thumbnail=stored.thumbnail, file_name=checked.label,
                      content_type=checked.content_type, size_bytes=len(checked.content), sha256=checked.sha256,
                      width=checked.width, height=checked.height)
    try:
        with transaction.atomic():
            material = Material.objects.create(enterprise_id=scope.enterprise_id, created_by=user_of(actor), **values)
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.material_create",
                         target_type="content_material", target_id=material.pk,
                         summary=audit.text(N_("%(kind)s: %(value)s"), value=material.title,
                                            kind=audit.label(MaterialKind(material.kind).label)),
                         changes={"file": values.get("file_name", ""), "size": values.get("size_bytes", 0)})
    except Exception:
        if stored is not None:
            uploads.discard(stored.name, stored.thumbnail)
        raise
    return material


def _material_for_edit(scope: Scope, material_id: int) -> Material:
    found = Material.objects.select_for_update().filter(enterprise_id=scope.enterprise_id, pk=material_id,
                                                        archived=False).first()
    if found is None:
        raise NotFound(_("material %(material_id)s not found") % {"material_id": material_id}, field="material_id")
    return found


def update_material(*, scope: Scope, material_id: int, data: MaterialInput, actor: Actor = None) -> Material:
    """Change a material's words, link and labels (its kind and file stay; upload a new material for a new file)."""
    require_editor(scope)
    with transaction.atomic():
        material = _material_for_edit(scope, material_id)
        same_kind = MaterialInput(**{**data.__dict__, "kind": material.kind})
        values = _check_material(same_kind, has_file=material.kind in FILE_KINDS)
        values.update(folder_id=_folder(scope, data.folder_id), product_id=_product(scope, data.product_id))
        before = {k: getattr(material, k) for k in values}
        for key, value in values.items():
            setattr(material, key, value)
        material.save()
        changed = {k: [before[k], v] for k, v in values.items() if before[k] != v}
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.material_update",
                     target_type="content_material", target_id=material.pk, summary=material.title,
                     changes={k: [str(a), str(b)] for k, (a, b) in changed.items()})
    return material


def archive_material(*, scope: Scope, material_id: int, actor: Actor = None) -> None:
    require_editor(scope)
    with transaction.atomic():
        material = _material_for_edit(scope, material_id)
        material.archived = True
        material.save(update_fields=["archived", "updated_at"])
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.material_archive",
                     target_type="content_material", target_id=material.pk, summary=material.title)


# ---------------------------------------------------------------------------------------------------------------
# Scripts


def _check_steps(steps: Sequence[StepInput]) -> list[dict[str, str]]:
    kept = []
    for index, step in enumerate(steps):
        text = step.text.strip()
        if not text:
            continue
        if step.step not in STEP_KINDS:
            raise ValidationFailed(
                _("a step is one of %(join)s") % {"join": ', '.join(STEP_KINDS)},
                field=f"steps[{index}].step", index=index,
                code="unknown_step_kind",
            )
        if len(text) > MAX_STEP_CHARS:
            raise ValidationFailed(
                _("at most %(MAX_STEP_CHARS)s characters") % {"MAX_STEP_CHARS": MAX_STEP_CHARS},
                field=f"steps[{index}].text", index=index,
                code="too_long",
            )
        variables_in(text, field=f"steps[{index}].text")
        kept.append({"step": step.step, "text": text})
    if not kept:
        raise ValidationFailed(_("a script needs at least one step with text"), field="steps",
                               code="steps_required")
    if len(kept) > MAX_STEPS:
        raise ValidationFailed(_("at most %(MAX_STEPS)s steps") % {"MAX_STEPS": MAX_STEPS}, field="steps",
                               code="too_many_steps")
    return kept


def _check_fallbacks(fallbacks: dict[str, str]) -> dict[str, str]:
    kept = {}
    for name, value in fallbacks.items():
        variables_in("{" + name + "}", field=f"fallbacks.{name}")
        if value.strip():
            if "{" in value or "}" in value:
                raise ValidationFailed(_("a fallback is plain text"), field=f"fallbacks.{name}",
                                       code="fallback_plain_text")
            kept[name] = value.strip()[:64]
    return kept


def _check_script(scope: Scope, data: ScriptInput) -> dict[str, Any]:
    steps = _check_steps(data.steps)
    material_id = data.material_id
    if material_id is not None and not Material.objects.filter(enterprise_id=scope.enterprise_id, pk=material_id,
                                                               archived=False).exists():
        raise ValidationFailed(
            _("material %(material_id)s not found") % {"material_id": material_id},
            field="material_id",
            code="material_not_found",
        )
    return {"title": _title(data.title), "scenario": _choice(data.scenario, Scenario, "scenario"), "steps": steps,
            "body": "\n".join(s["text"] for s in steps), "fallbacks": _check_fallbacks(data.fallbacks),
            "material_id": material_id, "stage": _choice(data.stage, Stage, "stage"),
            "product_id": _product(scope, data.product_id)}


def create_script(*, scope: Scope, data: ScriptInput, actor: Actor = None) -> Script:
    require_editor(scope)
    values = _check_script(scope, data)
    with transaction.atomic():
        script = Script.objects.create(enterprise_id=scope.enterprise_id, created_by=user_of(actor), **values)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.script_create",
                     target_type="content_script", target_id=script.pk, summary=script.title)
    return script


def update_script(*, scope: Scope, script_id: int, data: ScriptInput, actor: Actor = None) -> Script:
    require_editor(scope)
    values = _check_script(scope, data)
    with transaction.atomic():
        script = Script.objects.select_for_update().filter(enterprise_id=scope.enterprise_id, pk=script_id,
                                                           archived=False).first()
        if script is None:
            raise NotFound(_("script %(script_id)s not found") % {"script_id": script_id}, field="script_id")
        for key, value in values.items():
            setattr(script, key, value)
        script.save()
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.script_update",
                     target_type="content_script", target_id=script.pk, summary=script.title)
    return script


def archive_script(*, scope: Scope, script_id: int, actor: Actor = None) -> None:
    require_editor(scope)
    with transaction.atomic():
        changed = Script.objects.filter(enterprise_id=scope.enterprise_id, pk=script_id, archived=False).update(
            archived=True)
        if not changed:
            raise NotFound(_("script %(script_id)s not found") % {"script_id": script_id}, field="script_id")
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.script_archive",
                     target_type="content_script", target_id=script_id)


# ---------------------------------------------------------------------------------------------------------------
# Uses


def record_use(*, scope: Scope, key: str, kind: str = UseKind.SENT, material_id: int | None = None,
               script_id: int | None = None, customer_id: int | None = None) -> bool:
    """Count one use once per key (a double tap or a retried request counts once). True when it was new."""
    kind = _choice(kind, UseKind, "kind")
    key = key.strip()
    if not key or len(key) > 100:
        raise ValidationFailed(_("a use needs a key of 1 to 100 characters"), field="key",
                               code="use_key_length")
    if material_id is None and script_id is None:
        raise ValidationFailed(_("name a material or a script"), field="material_id",
                               code="material_or_script_required")
    if material_id is not None and not Material.objects.filter(enterprise_id=scope.enterprise_id,
                                                               pk=material_id).exists():
        raise NotFound(_("material %(material_id)s not found") % {"material_id": material_id}, field="material_id")
    if script_id is not None and not Script.objects.filter(enterprise_id=scope.enterprise_id, pk=script_id).exists():
        raise NotFound(_("script %(script_id)s not found") % {"script_id": script_id}, field="script_id")
    if customer_id is not None:
        customer_queries.get_customer(scope, customer_id)  # only a customer in the caller's scope
    _row, created = ContentUse.objects.get_or_create(
        enterprise_id=scope.enterprise_id, key=f"{scope.staff_id or 0}:{key}",
        defaults={"material_id": material_id, "script_id": script_id, "kind": kind, "staff_id": scope.staff_id,
                  "customer_id": customer_id})
    return created


# ---------------------------------------------------------------------------------------------------------------
# Moments calendar

MOMENT_TEXT_MAX = 2000  # WeCom's moment text limit (the simulator's Limits.moment_text_max)
ENGAGEMENT_DAYS = 30  # how long after it is posted a moment's comments and likes are read again
ENGAGEMENT_BATCH = 50


def plan_moment(*, scope: Scope, planned_at: datetime, text: str, store_id: int | None = None,
                attachments: Sequence[int] = (), actor: Actor = None) -> MomentPlan:
    """Put a moment on the calendar (HQ): for every member, or for one store's staff; with materials attached
    (images, a video or a link, as WeCom allows: moment_media.check)."""
    text, material_ids = _check_plan(scope, planned_at=planned_at, text=text, store_id=store_id,
                                     attachments=attachments)
    with transaction.atomic():
        plan = MomentPlan.objects.create(enterprise_id=scope.enterprise_id, planned_at=planned_at, text=text,
                                         store_id=store_id, attachments=material_ids, created_by=user_of(actor))
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.moment_plan",
                     target_type="content_moment_plan", target_id=plan.pk, summary=text[:60],
                     changes={"planned_at": planned_at.isoformat(), "store_id": store_id,
                              "attachments": material_ids})
    return plan


def _check_plan(scope: Scope, *, planned_at: datetime, text: str, store_id: int | None,
                attachments: Sequence[int]) -> tuple[str, list[int]]:
    require_editor(scope)
    text = text.strip()
    materials = moment_media.check(scope.enterprise_id, attachments)
    if not text and not materials:
        raise ValidationFailed(_("a moment needs its text or an attachment"), field="text",
                               code="text_or_attachment_required")
    if len(text) > MOMENT_TEXT_MAX:
        raise ValidationFailed(
            _("at most %(MOMENT_TEXT_MAX)s characters") % {"MOMENT_TEXT_MAX": MOMENT_TEXT_MAX},
            field="text",
            code="text_length",
        )
    if timezone.is_naive(planned_at):
        raise ValidationFailed(_("give the time with its time zone"), field="planned_at", code="naive_datetime")
    if store_id is not None:
        org_queries.get_store(scope, store_id)
    return text, [m.pk for m in materials]


def update_moment(*, scope: Scope, plan_id: int, planned_at: datetime, text: str, store_id: int | None = None,
                  attachments: Sequence[int] = (), actor: Actor = None) -> MomentPlan:
    """Change a plan still on the calendar (HQ, with plan_moment's rules); one already handed to WeCom, failed or
    cancelled is a 409 (what WeCom has cannot be changed from here)."""
    text, material_ids = _check_plan(scope, planned_at=planned_at, text=text, store_id=store_id,
                                     attachments=attachments)
    with transaction.atomic():
        plan = MomentPlan.objects.select_for_update().filter(enterprise_id=scope.enterprise_id, pk=plan_id).first()
        if plan is None:
            raise NotFound(_("no planned moment %(plan_id)s") % {"plan_id": plan_id}, field="plan_id")
        if plan.status != PlanStatus.PLANNED:
            raise Conflict(_("this moment is no longer planned: it cannot be changed"), field="plan_id",
                           code="not_planned")
        plan.planned_at, plan.text, plan.store_id, plan.attachments = planned_at, text, store_id, material_ids
        plan.save(update_fields=["planned_at", "text", "store", "attachments"])
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.moment_update",
                     target_type="content_moment_plan", target_id=plan.pk, summary=text[:60],
                     changes={"planned_at": planned_at.isoformat(), "store_id": store_id,
                              "attachments": material_ids})
    return plan


def cancel_moment(*, scope: Scope, plan_id: int, actor: Actor = None) -> None:
    require_editor(scope)
    with transaction.atomic():
        changed = MomentPlan.objects.filter(enterprise_id=scope.enterprise_id, pk=plan_id,
                                            status=PlanStatus.PLANNED).update(status=PlanStatus.CANCELLED)
        if not changed:
            raise NotFound(_("no planned moment %(plan_id)s") % {"plan_id": plan_id}, field="plan_id")
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.moment_cancel",
                     target_type="content_moment_plan", target_id=plan_id)


def _fail_plan(plan_id: int, status: str, message: str) -> None:
    MomentPlan.objects.filter(pk=plan_id, status=status).update(status=PlanStatus.FAILED, error=message[:255])


def _hand_over(plan_id: int, moment: datetime, *, status: str = PlanStatus.PLANNED,
               attachments: Sequence[dict[str, Any]] = ()) -> bool:
    """One due plan to WeCom: the row is locked and re-checked, the moment task created and submitted (its platform
    call queued in the outbox, made after the commit) and linked, all in one transaction."""
    with transaction.atomic():
        plan = MomentPlan.objects.select_for_update().filter(pk=plan_id, status=status,
                                                             planned_at__lte=moment).first()
        if plan is None:
            return False
        scope = Scope.hq(plan.enterprise_id, label="moments calendar")
        account = wecom_queries.accounts(scope).first()
        try:
            if account is None:
                raise ValidationFailed(_("no WeCom app is connected"), field="account", code="no_wecom_app")
            staff = list(org_queries.staff(scope).filter(store_id=plan.store_id, is_active=True)
                         .values_list("id", flat=True)) if plan.store_id else []
            if plan.store_id and not staff:
                raise ValidationFailed(_("the store has no active staff"), field="store_id",
                                       code="store_no_active_staff")
            with transaction.atomic():
                task = wecom_moments.create_moment_task(scope=scope, account_id=account.pk, text=plan.text,
                                                         attachments=list(attachments), staff_ids=staff, submit=True)
        except DomainError as exc:
            plan.status, plan.error = PlanStatus.FAILED, exc.message[:255]
            plan.save(update_fields=["status", "error"])
            return False
        plan.status, plan.moment_task = PlanStatus.CREATED, task
        plan.save(update_fields=["status", "moment_task"])
        # each attached material counts one use "sent" (a moment), once per plan: its usage statistics
        ContentUse.objects.bulk_create(
            [ContentUse(enterprise_id=plan.enterprise_id, material_id=material_id, kind=UseKind.SENT,
                        key=f"moment:{plan.pk}:{material_id}") for material_id in plan.attachments],
            ignore_conflicts=True)
    return True


def _start_uploads(plan_id: int, moment: datetime) -> None:
    """A due plan with attachments: its files prepared (storage I/O, no transaction open), then, in one short
    transaction, one outbox upload per attachment (keyed by plan, position and material: queued once however often
    this runs) and the plan marked `uploading`. The worker uploads after the commit."""
    plan = MomentPlan.objects.filter(pk=plan_id, status=PlanStatus.PLANNED, planned_at__lte=moment).first()
    if plan is None:
        return
    scope = Scope.hq(plan.enterprise_id, label="moments calendar")
    account = wecom_queries.accounts(scope).first()
    try:
        if account is None:
            raise ValidationFailed(_("no WeCom app is connected"), field="account", code="no_wecom_app")
        materials = moment_media.check(plan.enterprise_id, plan.attachments)  # deleted since it was planned?
        files = [moment_media.file_for(material) for material in materials]
    except DomainError as exc:
        _fail_plan(plan_id, PlanStatus.PLANNED, exc.message)
        return
    with transaction.atomic():
        plan = MomentPlan.objects.select_for_update().filter(pk=plan_id, status=PlanStatus.PLANNED).first()
        if plan is None or plan.attachments != [m.pk for m in materials]:
            return  # cancelled or changed meanwhile: the next tick sees the new plan
        plan.uploads = [
            {"material_id": material.pk, "call_id": wecom_moments.queue_attachment(
                scope=scope, account_id=account.pk, storage_name=file.storage_name, media_type=file.media_type,
                filename=file.filename, content_type=file.content_type,
                key=f"content.moment:{plan.pk}:{position}:{material.pk}")}
            for position, (material, file) in enumerate(zip(materials, files, strict=True))
        ]
        plan.status = PlanStatus.UPLOADING
        plan.save(update_fields=["uploads", "status"])


def _finish_uploads(plan_id: int, moment: datetime) -> bool:
    """A plan whose uploads are all done is handed over with their media_ids; one the platform refused fails with
    the platform's reason; otherwise it waits for the outbox (retries included)."""
    plan = MomentPlan.objects.filter(pk=plan_id, status=PlanStatus.UPLOADING).first()
    if plan is None:
        return False
    scope = Scope.hq(plan.enterprise_id, label="moments calendar")
    uploads = wecom_moments.attachment_uploads(scope=scope, call_ids=[u["call_id"] for u in plan.uploads])
    failed = [u for u in uploads.values() if u.status == "failed"]
    if failed:
        _fail_plan(plan_id, PlanStatus.UPLOADING,
                   str(_("WeCom refused an attachment: %(error)s") % {"error": failed[0].error}))
        return False
    if len(uploads) != len(plan.uploads) or any(u.status != "done" for u in uploads.values()):
        return False
    materials = {m.pk: m for m in Material.objects.filter(enterprise_id=plan.enterprise_id,
                                                          pk__in=[u["material_id"] for u in plan.uploads])}
    attachments = [moment_media.attachment(materials[u["material_id"]], uploads[u["call_id"]].media_id)
                   for u in plan.uploads]
    return _hand_over(plan_id, moment, status=PlanStatus.UPLOADING, attachments=attachments)


def run_due_moments(*, at: datetime | None = None) -> int:
    """Hand every due plan to WeCom (the scheduler runs this each minute; safe on several workers): a text-only plan
    at once; one with attachments after its media are uploaded. Returns how many plans became moment tasks."""
    moment = at or timezone.now()
    due = list(MomentPlan.objects.filter(status=PlanStatus.PLANNED, planned_at__lte=moment)
               .order_by("planned_at", "id").values_list("id", "attachments")[:500])
    handed = sum(1 for plan_id, attached in due if not attached and _hand_over(plan_id, moment))
    for plan_id, attached in due:
        if attached:
            _start_uploads(plan_id, moment)
    uploading = list(MomentPlan.objects.filter(status=PlanStatus.UPLOADING).order_by("planned_at", "id")
                     .values_list("id", flat=True)[:500])
    return handed + sum(1 for plan_id in uploading if _finish_uploads(plan_id, moment))


def refresh_moment_engagement(*, plan_id: int, at: datetime | None = None) -> bool:
    """Read who posted the plan's moment and the comments and likes on each copy from WeCom (network, no
    transaction), then mirror them in one short transaction: the plan's rows are replaced set-based."""
    plan = MomentPlan.objects.filter(pk=plan_id, status=PlanStatus.CREATED, moment_task__isnull=False).first()
    if plan is None or plan.moment_task_id is None:
        return False
    scope = Scope.hq(plan.enterprise_id, label="moments calendar")
    try:
        found = wecom_moments.fetch_engagement(scope=scope, task_id=plan.moment_task_id)
    except WecomError as exc:
        log.warning("moment engagement of plan %s not read: %s", plan_id, exc)
        return False
    if found is None:
        return False
    staff_of = dict(org_queries.staff(scope).filter(wecom_userid__in=[s.userid for s in found])
                    .values_list("wecom_userid", "id"))
    posts = [MomentPost(plan_id=plan_id, userid=s.userid, staff_id=staff_of.get(s.userid), published=s.published)
             for s in found]
    reactions = [
        MomentReaction(plan_id=plan_id, userid=s.userid, kind=kind, external_userid=r.external_userid,
                       by_userid=r.userid, created_at=datetime.fromtimestamp(r.create_time, tz=UTC))
        for s in found for kind, rows in ((ReactionKind.COMMENT, s.comments), (ReactionKind.LIKE, s.likes))
        for r in rows
    ]
    with transaction.atomic():
        MomentPost.objects.filter(plan_id=plan_id).delete()
        MomentReaction.objects.filter(plan_id=plan_id).delete()
        MomentPost.objects.bulk_create(posts, ignore_conflicts=True)
        MomentReaction.objects.bulk_create(reactions, ignore_conflicts=True)
        MomentPlan.objects.filter(pk=plan_id).update(engagement_at=at or timezone.now())
    return True


def refresh_moments_engagement(*, at: datetime | None = None, limit: int = ENGAGEMENT_BATCH) -> int:
    """Periodic: the calendar's moments posted in the last ENGAGEMENT_DAYS, least recently read first."""
    moment = at or timezone.now()
    plans = (MomentPlan.objects.filter(status=PlanStatus.CREATED, moment_task__status="done",
                                       planned_at__gte=moment - timedelta(days=ENGAGEMENT_DAYS))
             .order_by(F("engagement_at").asc(nulls_first=True), "id").values_list("id", flat=True)[:limit])
    return sum(1 for plan_id in list(plans) if refresh_moment_engagement(plan_id=plan_id, at=moment))


# ---------------------------------------------------------------------------------------------------------------
# UGC: customers' submissions, reviewed by HQ

UGC_TEXT_MAX = 2000
UgcReward = Callable[[int, int, str], None]  # (enterprise_id, customer_id, reward_key)
_UGC_REWARDS: dict[str, UgcReward] = {}


def register_ugc_reward(name: str, reward: UgcReward) -> None:
    """Loyalty (when it lands) registers how an approved submission is rewarded; the key is unique per submission,
    so a reward written with it as its idempotency key is granted once."""
    _UGC_REWARDS[name] = reward


def unregister_ugc_reward(name: str) -> None:
    _UGC_REWARDS.pop(name, None)


def submit_ugc(*, enterprise_id: int, customer_id: int, kind: str, text: str = "", product_id: int | None = None,
               upload: Upload | None = None) -> Submission:
    """A mall customer's review, photo or story (a photo needs an image; the others may carry one)."""
    kind = _choice(kind, SubmissionKind, "kind")
    text = text.strip()
    if len(text) > UGC_TEXT_MAX:
        raise ValidationFailed(_("at most %(UGC_TEXT_MAX)s characters") % {"UGC_TEXT_MAX": UGC_TEXT_MAX}, field="text",
                               code="text_length")
    if kind == SubmissionKind.PHOTO and upload is None:
        raise ValidationFailed(_("a photo needs an image"), field="file", code="image_required")
    if not text and upload is None:
        raise ValidationFailed(_("write something or add a photo"), field="text", code="text_or_photo_required")
    if product_id is not None and not catalog_queries.on_sale_products(enterprise_id=enterprise_id).filter(
            pk=product_id).exists():
        raise ValidationFailed(_("product %(product_id)s not found") % {"product_id": product_id}, field="product_id",
                               code="product_not_found")
    values: dict[str, Any] = {}
    stored = None
    if upload is not None:
        checked = uploads.check_upload(upload.stream, name=upload.name, size=upload.size, rule_name="image")
        stored = uploads.store(checked, enterprise_id=enterprise_id)
        values = {"file": stored.name, "thumbnail": stored.thumbnail, "file_name": checked.label,
                  "content_type": checked.content_type, "size_bytes": len(checked.content), "sha256": checked.sha256,
                  "width": checked.width, "height": checked.height}
    try:
        return Submission.objects.create(enterprise_id=enterprise_id, customer_id=customer_id, kind=kind, text=text,
                                         product_id=product_id, **values)
    except Exception:
        if stored is not None:
            uploads.discard(stored.name, stored.thumbnail)
        raise


def _pending(scope: Scope, submission_id: int) -> Submission:
    found = Submission.objects.select_for_update().filter(enterprise_id=scope.enterprise_id,
                                                          pk=submission_id).first()
    if found is None:
        raise NotFound(
            _("submission %(submission_id)s not found") % {"submission_id": submission_id},
            field="submission_id",
        )
    if found.status != SubmissionStatus.PENDING:
        raise Conflict(
            _("this submission was already %(status)s") % {"status": found.status},
            field="status", code="already_reviewed",
        )
    return found


def approve_ugc(*, scope: Scope, submission_id: int, actor: Actor = None) -> Submission:
    """Approve: the submission enters the library as a material, and its submitter is rewarded once."""
    require_editor(scope)
    with transaction.atomic():
        sub = _pending(scope, submission_id)
        material = Material.objects.create(
            enterprise_id=scope.enterprise_id, kind=MaterialKind.IMAGE if sub.file else MaterialKind.TEXT,
            title=f"{sub.get_kind_display()} #{sub.pk}"[:120], text=sub.text, product_id=sub.product_id,
            file=sub.file, thumbnail=sub.thumbnail, file_name=sub.file_name, content_type=sub.content_type,
            size_bytes=sub.size_bytes, width=sub.width, height=sub.height, sha256=sub.sha256,
            created_by=user_of(actor))
        sub.status, sub.material, sub.reviewed_at = SubmissionStatus.APPROVED, material, timezone.now()
        sub.reviewed_by, sub.reward_key = user_of(actor), f"ugc:{sub.pk}"
        sub.save()
        for reward in _UGC_REWARDS.values():
            reward(scope.enterprise_id, sub.customer_id, sub.reward_key)
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.ugc_approve",
                     target_type="content_submission", target_id=sub.pk, changes={"material_id": material.pk})
    return sub


def reject_ugc(*, scope: Scope, submission_id: int, reason: str, actor: Actor = None) -> Submission:
    require_editor(scope)
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(_("say why it is rejected"), field="reason", code="reason_required")
    with transaction.atomic():
        sub = _pending(scope, submission_id)
        sub.status, sub.reason, sub.reviewed_at = SubmissionStatus.REJECTED, reason[:200], timezone.now()
        sub.reviewed_by = user_of(actor)
        sub.save()
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.ugc_reject",
                     target_type="content_submission", target_id=sub.pk, summary=reason[:100])
    return sub


# ---------------------------------------------------------------------------------------------------------------
# Staff personas


def save_persona(*, scope: Scope, staff_id: int, nickname: str, signature: str, persona_type: str,
                 avatar: Upload | None = None, actor: Actor = None) -> StaffPersona:
    """A staff member sets their own persona; managers their team's, HQ anyone's (org scope decides)."""
    staff = org_queries.get_staff(scope, staff_id)
    nickname, signature = nickname.strip(), signature.strip()
    if len(nickname) > 32:
        raise ValidationFailed(_("at most 32 characters"), field="nickname", code="nickname_length")
    if len(signature) > 60:
        raise ValidationFailed(_("at most 60 characters"), field="signature", code="signature_length")
    if persona_type:
        _choice(persona_type, PersonaType, "persona_type")
    stored = None
    if avatar is not None:
        checked = uploads.check_upload(avatar.stream, name=avatar.name, size=avatar.size, rule_name="cover",
                                       field="avatar")
        stored = uploads.store(checked, enterprise_id=scope.enterprise_id)
    try:
        with transaction.atomic():
            persona, _created = StaffPersona.objects.select_for_update().get_or_create(
                staff_id=staff.pk, defaults={"enterprise_id": scope.enterprise_id})
            old_files = (persona.avatar,) if stored is not None else ()
            persona.nickname, persona.signature, persona.persona_type = nickname, signature, persona_type
            if stored is not None:
                persona.avatar = stored.thumbnail
            persona.save()
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.persona_save",
                         target_type="staff", target_id=staff.pk, summary=nickname,
                         changes={"persona_type": persona_type, "avatar": stored is not None})
    except Exception:
        if stored is not None:
            uploads.discard(stored.name, stored.thumbnail)
        raise
    if stored is not None:
        doomed = (stored.name, *old_files)  # only the thumbnail is kept
        transaction.on_commit(lambda: uploads.discard(*doomed), robust=True)
    return persona


def set_persona_avatar(*, scope: Scope, staff_id: int, avatar: Upload, actor: Actor = None) -> StaffPersona:
    """Only the avatar (the API's upload): checked by content like every upload (an image, ≤2 MB, its pixels
    bounded before decoding), kept as its thumbnail; the persona's other fields stay as they are."""
    staff = org_queries.get_staff(scope, staff_id)
    checked = uploads.check_upload(avatar.stream, name=avatar.name, size=avatar.size, rule_name="cover",
                                   field="avatar")
    stored = uploads.store(checked, enterprise_id=scope.enterprise_id)
    try:
        with transaction.atomic():
            persona, _created = StaffPersona.objects.select_for_update().get_or_create(
                staff_id=staff.pk, defaults={"enterprise_id": scope.enterprise_id})
            old = persona.avatar
            persona.avatar = stored.thumbnail
            persona.save(update_fields=["avatar", "updated_at"])
            audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="content.persona_avatar",
                         target_type="staff", target_id=staff.pk, summary=persona.nickname,
                         changes={"avatar": True})
    except Exception:
        uploads.discard(stored.name, stored.thumbnail)
        raise
    # the original (only the thumbnail is kept) and the old avatar go once the change is committed (an outer
    # transaction that rolls back keeps the row pointing at the old file, which must still be there)
    transaction.on_commit(lambda: uploads.discard(stored.name, *((old,) if old else ())), robust=True)
    return persona
