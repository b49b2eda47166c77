"""Content API (/api/content): the material library (uploads by multipart form), folders, scripts with their
rendering for one customer, quick-reply search, and the log of uses (usage statistics).

Reads are open to every staff role of the enterprise; library writes need HQ (403 otherwise). Uploads are checked by
their content (siyu/content/uploads.py); a refusal is a 422 naming the field, and nothing is stored.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import ConfigDict

from siyu.api.auth import actor_of, scope_of
from siyu.api.idempotency import KEY_HEADER_DOC, create_once
from siyu.content import queries, services
from siyu.content.variables import render
from siyu.core.errors import NotFound
from siyu.storefront.api import CUSTOMER, shopper_of

router = Router()
OPTIONAL_FILE = File(None)  # a multipart `file` part that some material kinds leave out


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


class FolderIn(Input):
    name: str = Field(max_length=200)


class FolderOut(Schema):
    id: int
    name: str
    material_count: int = 0


class MaterialIn(Schema):
    kind: str = Field(max_length=16)
    title: str = Field(max_length=500)
    text: str = Field("", max_length=8000)
    url: str = Field("", max_length=500)
    mp_appid: str = Field("", max_length=64)
    mp_page: str = Field("", max_length=255)
    folder_id: int | None = None
    stage: str = Field("", max_length=16)
    scenario: str = Field("", max_length=16)
    product_id: int | None = None


class MaterialPatch(Input):
    title: str = Field(max_length=500)
    text: str = Field("", max_length=8000)
    url: str = Field("", max_length=500)
    mp_appid: str = Field("", max_length=64)
    mp_page: str = Field("", max_length=255)
    folder_id: int | None = None
    stage: str = Field("", max_length=16)
    scenario: str = Field("", max_length=16)
    product_id: int | None = None


class MaterialOut(Schema):
    id: int
    kind: str
    title: str
    text: str
    url: str
    mp_appid: str
    mp_page: str
    folder_id: int | None
    stage: str
    scenario: str
    product_id: int | None
    file_name: str
    content_type: str
    size_bytes: int
    width: int | None
    height: int | None
    has_thumbnail: bool
    sent: int = 0
    clicked: int = 0
    converted: int = 0


class MaterialPage(Schema):
    items: list[MaterialOut]
    total: int
    page: int
    page_size: int


class MaterialQuery(Input):
    q: str = Field("", max_length=100)
    kind: str = Field("", max_length=16)
    folder_id: int | None = None
    stage: str = Field("", max_length=16)
    scenario: str = Field("", max_length=16)
    product_id: int | None = None
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=200)


class StepIn(Input):
    step: str = Field(max_length=16)
    text: str = Field(max_length=4000)


class ScriptIn(Input):
    title: str = Field(max_length=500)
    scenario: str = Field(max_length=16)
    steps: list[StepIn] = Field(max_length=50)
    fallbacks: dict[str, str] = {}
    material_id: int | None = None
    stage: str = Field("", max_length=16)
    product_id: int | None = None


class StepOut(Schema):
    step: str
    text: str


class ScriptOut(Schema):
    id: int
    title: str
    scenario: str
    steps: list[StepOut]
    fallbacks: dict[str, str]
    material_id: int | None
    stage: str
    product_id: int | None
    sent: int = 0


class ScriptPage(Schema):
    items: list[ScriptOut]
    total: int
    page: int
    page_size: int


class ScriptQuery(Input):
    q: str = Field("", max_length=100)
    scenario: str = Field("", max_length=16)
    stage: str = Field("", max_length=16)
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=200)


class QuickQuery(Input):
    q: str = Field("", max_length=100)
    limit: int = Field(20, ge=1, le=50)


class RenderIn(Input):
    customer_id: int | None = None
    values: dict[str, str] = {}


class RenderOut(Schema):
    script_id: int
    text: str
    complete: bool
    missing: list[str]


class UseIn(Input):
    key: str = Field(max_length=100, description="one per tap: a repeat with the same key counts once")
    kind: str = "sent"
    material_id: int | None = None
    script_id: int | None = None
    customer_id: int | None = None


class UseOut(Schema):
    counted: bool


def _material_out(m: Any) -> dict[str, Any]:
    return {
        "id": m.pk, "kind": m.kind, "title": m.title, "text": m.text, "url": m.url, "mp_appid": m.mp_appid,
        "mp_page": m.mp_page, "folder_id": m.folder_id, "stage": m.stage, "scenario": m.scenario,
        "product_id": m.product_id, "file_name": m.file_name, "content_type": m.content_type,
        "size_bytes": m.size_bytes, "width": m.width, "height": m.height, "has_thumbnail": bool(m.thumbnail),
        "sent": getattr(m, "sent", 0), "clicked": getattr(m, "clicked", 0), "converted": getattr(m, "converted", 0),
    }


def _script_out(s: Any) -> dict[str, Any]:
    return {"id": s.pk, "title": s.title, "scenario": s.scenario, "steps": s.steps, "fallbacks": s.fallbacks,
            "material_id": s.material_id, "stage": s.stage, "product_id": s.product_id,
            "sent": getattr(s, "sent", 0)}


def _material_input(payload: MaterialIn | MaterialPatch, kind: str) -> services.MaterialInput:
    return services.MaterialInput(
        kind=kind, title=payload.title, text=payload.text, url=payload.url, mp_appid=payload.mp_appid,
        mp_page=payload.mp_page, folder_id=payload.folder_id, stage=payload.stage, scenario=payload.scenario,
        product_id=payload.product_id)


def _script_input(payload: ScriptIn) -> services.ScriptInput:
    return services.ScriptInput(
        title=payload.title, scenario=payload.scenario,
        steps=[services.StepInput(step=s.step, text=s.text) for s in payload.steps], fallbacks=payload.fallbacks,
        material_id=payload.material_id, stage=payload.stage, product_id=payload.product_id)


# ---------------------------------------------------------------------------------------------------------------
# Folders and materials


@router.get("/folders", response=list[FolderOut], summary="Material folders")
def list_folders(request: HttpRequest) -> list[dict[str, Any]]:
    return [{"id": f.pk, "name": f.name, "material_count": getattr(f, "material_count", 0)}
            for f in queries.folders(scope_of(request)).order_by("name")]


@router.post("/folders", response={201: FolderOut}, summary="Create a folder (HQ)")
def create_folder(request: HttpRequest, payload: FolderIn) -> Status[dict[str, Any]]:
    folder = services.create_folder(scope=scope_of(request), name=payload.name, actor=actor_of(request))
    return Status(201, {"id": folder.pk, "name": folder.name})


@router.get("/materials", response=MaterialPage, summary="Search the material library")
def list_materials(request: HttpRequest, params: Query[MaterialQuery]) -> dict[str, Any]:
    flt = queries.MaterialFilter(q=params.q, kind=params.kind, folder_id=params.folder_id, stage=params.stage,
                                 scenario=params.scenario, product_id=params.product_id)
    page = queries.search_materials(scope_of(request), flt, page=params.page, page_size=params.page_size)
    return {"items": [_material_out(m) for m in page.items], "total": page.total, "page": page.page,
            "page_size": page.page_size}


@router.post("/materials", response={201: MaterialOut},
             summary="Add a material (HQ; multipart form, `file` for images, posters, videos, files and covers)")
def create_material(request: HttpRequest, payload: Form[MaterialIn],
                    file: UploadedFile | None = OPTIONAL_FILE) -> Status[dict[str, Any]]:
    scope = scope_of(request)
    upload = services.Upload(stream=file, name=file.name or "", size=file.size) if file is not None else None
    material = services.create_material(scope=scope, data=_material_input(payload, payload.kind), upload=upload,
                                        actor=actor_of(request))
    return Status(201, _material_out(queries.get_material(scope, material.pk)))


@router.get("/materials/{material_id}", response=MaterialOut, summary="One material with its usage counts")
def get_material(request: HttpRequest, material_id: int) -> dict[str, Any]:
    return _material_out(queries.get_material(scope_of(request), material_id))


@router.patch("/materials/{material_id}", response=MaterialOut,
              summary="Change a material's words and labels (HQ; the kind and the file stay)")
def update_material(request: HttpRequest, material_id: int, payload: MaterialPatch) -> dict[str, Any]:
    scope = scope_of(request)
    kind = queries.get_material(scope, material_id).kind
    services.update_material(scope=scope, material_id=material_id, data=_material_input(payload, kind),
                             actor=actor_of(request))
    return _material_out(queries.get_material(scope, material_id))


@router.delete("/materials/{material_id}", response={204: None}, summary="Archive a material (HQ)")
def archive_material(request: HttpRequest, material_id: int) -> Status[None]:
    services.archive_material(scope=scope_of(request), material_id=material_id, actor=actor_of(request))
    return Status(204, None)


# ---------------------------------------------------------------------------------------------------------------
# Scripts


@router.get("/scripts", response=ScriptPage, summary="Search scripts")
def list_scripts(request: HttpRequest, params: Query[ScriptQuery]) -> dict[str, Any]:
    flt = queries.ScriptFilter(q=params.q, scenario=params.scenario, stage=params.stage)
    page = queries.search_scripts(scope_of(request), flt, page=params.page, page_size=params.page_size)
    return {"items": [_script_out(s) for s in page.items], "total": page.total, "page": page.page,
            "page_size": page.page_size}


@router.post("/scripts", response={201: ScriptOut}, summary="Create a script (HQ)")
def create_script(request: HttpRequest, payload: ScriptIn) -> Status[dict[str, Any]]:
    script = services.create_script(scope=scope_of(request), data=_script_input(payload), actor=actor_of(request))
    return Status(201, _script_out(script))


@router.get("/quick-replies", response=list[ScriptOut], summary="Quick-reply search (every word must match)")
def quick_replies(request: HttpRequest, params: Query[QuickQuery]) -> list[dict[str, Any]]:
    return [_script_out(s) for s in queries.quick_replies(scope_of(request), params.q, limit=params.limit)]


@router.get("/scripts/{script_id}", response=ScriptOut, summary="One script")
def get_script(request: HttpRequest, script_id: int) -> dict[str, Any]:
    return _script_out(queries.get_script(scope_of(request), script_id))


@router.put("/scripts/{script_id}", response=ScriptOut, summary="Replace a script (HQ)")
def update_script(request: HttpRequest, script_id: int, payload: ScriptIn) -> dict[str, Any]:
    script = services.update_script(scope=scope_of(request), script_id=script_id, data=_script_input(payload),
                                    actor=actor_of(request))
    return _script_out(script)


@router.delete("/scripts/{script_id}", response={204: None}, summary="Archive a script (HQ)")
def archive_script(request: HttpRequest, script_id: int) -> Status[None]:
    services.archive_script(scope=scope_of(request), script_id=script_id, actor=actor_of(request))
    return Status(204, None)


@router.post("/scripts/{script_id}/render", response=RenderOut,
             summary="A script's text for one customer (in your scope); `missing` names the variables to fill in")
def render_script(request: HttpRequest, script_id: int, payload: RenderIn) -> dict[str, Any]:
    scope = scope_of(request)
    script = queries.get_script(scope, script_id)
    values = queries.script_values(scope, script, customer_id=payload.customer_id, extra=payload.values)
    rendered = render(script.body, values, script.fallbacks)
    return {"script_id": script.pk, "text": rendered.text, "complete": rendered.complete,
            "missing": list(rendered.missing)}


class BestHourOut(Schema):
    customer_id: int
    hour: int | None = Field(description="Asia/Shanghai clock hour 0-23; null without engagement in 90 days")


@router.get("/customers/{customer_id}/best-hour", response=BestHourOut,
            summary="The hour a customer pays most attention (weighted reads, clicks and orders, last 90 days)")
def best_hour(request: HttpRequest, customer_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    hours = queries.best_sending_hours(scope, [queries.visible_customer(scope, customer_id)])
    return {"customer_id": customer_id, "hour": hours.get(customer_id)}


class HourSpreadOut(Schema):
    hours: list[int] = Field(description="24 counts: customers whose best hour (Asia/Shanghai) is that hour")
    busiest_hour: int | None
    without_history: int = Field(description="members with no engagement in 90 days")
    total: int


@router.get("/segments/{segment_id}/best-hours", response=HourSpreadOut,
            summary="When a segment's members pay most attention: the spread of their best sending hours")
def segment_best_hours(request: HttpRequest, segment_id: int) -> dict[str, Any]:
    spread = queries.segment_best_hours(scope_of(request), segment_id)
    return {"hours": spread.customers, "busiest_hour": spread.busiest_hour,
            "without_history": spread.without_history, "total": spread.total}


@router.post("/uses", response=UseOut, summary="Count a use of a material or script (sent, clicked, converted)")
def record_use(request: HttpRequest, payload: UseIn) -> dict[str, bool]:
    counted = services.record_use(scope=scope_of(request), key=payload.key, kind=payload.kind,
                                  material_id=payload.material_id, script_id=payload.script_id,
                                  customer_id=payload.customer_id)
    return {"counted": counted}


# ---------------------------------------------------------------------------------------------------------------
# UGC: operators review (HQ); customers submit from the mall (storefront_router, /api/storefront/ugc)


class SubmissionOut(Schema):
    id: int
    kind: str
    text: str
    product_id: int | None
    has_photo: bool
    status: str
    reason: str
    material_id: int | None
    created_at: Any


class SubmissionPage(Schema):
    items: list[SubmissionOut]
    total: int
    page: int
    page_size: int


class SubmissionQuery(Input):
    status: str = Field("", max_length=10)
    page: int = Field(1, ge=1)
    page_size: int = Field(20, ge=1, le=200)


class RejectIn(Input):
    reason: str = Field(max_length=200)


class UgcIn(Schema):
    kind: str = Field(max_length=10, description="review, photo or story")
    text: str = Field("", max_length=4000)
    product_id: int | None = None


def _submission_out(sub: Any) -> dict[str, Any]:
    return {"id": sub.pk, "kind": sub.kind, "text": sub.text, "product_id": sub.product_id,
            "has_photo": bool(sub.file), "status": sub.status, "reason": sub.reason,
            "material_id": sub.material_id, "created_at": sub.created_at}


@router.get("/ugc", response=SubmissionPage, summary="Customers' submissions for review")
def list_submissions(request: HttpRequest, params: Query[SubmissionQuery]) -> dict[str, Any]:
    page = queries.submissions(scope_of(request), status=params.status, page=params.page,
                               page_size=params.page_size)
    return {"items": [_submission_out(s) for s in page.items], "total": page.total, "page": page.page,
            "page_size": page.page_size}


@router.post("/ugc/{submission_id}/approve", response=SubmissionOut,
             summary="Approve (HQ): the submission enters the library and its submitter is rewarded once")
def approve_submission(request: HttpRequest, submission_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    queries.get_submission(scope, submission_id)
    return _submission_out(services.approve_ugc(scope=scope, submission_id=submission_id, actor=actor_of(request)))


@router.post("/ugc/{submission_id}/reject", response=SubmissionOut, summary="Reject with a reason (HQ)")
def reject_submission(request: HttpRequest, submission_id: int, payload: RejectIn) -> dict[str, Any]:
    scope = scope_of(request)
    queries.get_submission(scope, submission_id)
    return _submission_out(services.reject_ugc(scope=scope, submission_id=submission_id, reason=payload.reason,
                                               actor=actor_of(request)))


storefront_router = Router()


@storefront_router.post("/ugc", auth=CUSTOMER, response={201: SubmissionOut}, openapi_extra=KEY_HEADER_DOC,
                        summary="Send a review, photo or story (multipart; `file` for the photo; Idempotency-Key)")
def submit_ugc(request: HttpRequest, payload: Form[UgcIn],
               file: UploadedFile | None = OPTIONAL_FILE) -> Status[Any]:
    shopper = shopper_of(request)
    upload = services.Upload(stream=file, name=file.name or "", size=file.size) if file is not None else None

    def create(_key: str) -> int:
        return services.submit_ugc(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id,
                                   kind=payload.kind, text=payload.text, product_id=payload.product_id,
                                   upload=upload).pk

    def show(submission_id: int) -> dict[str, Any]:
        mine = queries.my_submissions(enterprise_id=shopper.enterprise_id, customer_id=shopper.customer_id)
        return _submission_out(next(s for s in mine if s.pk == submission_id))

    return create_once(request, action="storefront.ugc", owner=f"customer:{shopper.customer_id}", payload=payload,
                       create=create, render=show)


@storefront_router.get("/ugc", auth=CUSTOMER, response=list[SubmissionOut], summary="My submissions")
def my_submissions(request: HttpRequest) -> list[dict[str, Any]]:
    shopper = shopper_of(request)
    return [_submission_out(s) for s in queries.my_submissions(enterprise_id=shopper.enterprise_id,
                                                               customer_id=shopper.customer_id)]


# ---------------------------------------------------------------------------------------------------------------
# Moments calendar (the console's rules: HQ plans, changes and cancels; every role reads what its stores publish)


class MomentIn(Input):
    planned_at: datetime = Field(description="with its time zone, e.g. 2026-12-24T10:00:00+08:00")
    text: str = Field(max_length=4000)
    store_id: int | None = Field(None, description="one store's staff publish it; none: every member (HQ-wide)")
    attachments: list[int] = Field(
        default_factory=list, max_length=50,
        description="material ids, in order: ≤9 images/posters, or one video, or one link with a cover")
    idempotency_key: str = Field("", max_length=64, description="or the Idempotency-Key header (create only)")


class MomentOut(Schema):
    id: int
    planned_at: datetime
    text: str
    store_id: int | None
    status: str
    error: str
    moment_task_id: int | None
    attachments: list[int]


class StaffEngagementOut(Schema):
    userid: str
    staff_name: str
    published: bool
    comments: int
    likes: int


class EngagementOut(Schema):
    posted: int
    comments: int
    likes: int
    read_at: datetime | None
    staff: list[StaffEngagementOut]


class MomentQuery(Input):
    start: date | None = Field(None, description="the first Shanghai day (default: today)")
    days: int = Field(14, ge=1, le=62)


def _moment_out(plan: Any) -> dict[str, Any]:
    return {"id": plan.pk, "planned_at": plan.planned_at, "text": plan.text, "store_id": plan.store_id,
            "status": plan.status, "error": plan.error, "moment_task_id": plan.moment_task_id,
            "attachments": list(plan.attachments)}


@router.get("/moments", response=list[MomentOut], summary="The moments calendar: plans from a day on")
def list_moments(request: HttpRequest, params: Query[MomentQuery]) -> list[dict[str, Any]]:
    start = params.start or timezone.localdate()
    days = queries.moment_calendar(scope_of(request), start=start, days=params.days)
    return [_moment_out(plan) for _day, plans in days for plan in plans]


@router.post("/moments", response={201: MomentOut}, openapi_extra=KEY_HEADER_DOC,
             summary="Plan a moment (HQ; handed to WeCom as a moment task when due, once)")
def create_moment(request: HttpRequest, payload: MomentIn) -> Status[Any]:
    scope, actor = scope_of(request), actor_of(request)
    services.require_editor(scope)  # refused by role before the key is looked at

    def create(_key: str) -> int:
        return services.plan_moment(scope=scope, planned_at=payload.planned_at, text=payload.text,
                                    store_id=payload.store_id, attachments=payload.attachments, actor=actor).pk

    return create_once(request, action="content.moment", owner=f"enterprise:{scope.enterprise_id}", payload=payload,
                       create=create, render=lambda plan_id: _moment_out(queries.get_moment_plan(scope, plan_id)))


@router.get("/moments/{plan_id}", response=MomentOut, summary="One planned moment")
def get_moment(request: HttpRequest, plan_id: int) -> dict[str, Any]:
    return _moment_out(queries.get_moment_plan(scope_of(request), plan_id))


@router.get("/moments/{plan_id}/engagement", response=EngagementOut,
            summary="Who posted the moment, with the comments and likes on each copy (as WeCom last reported)")
def moment_engagement(request: HttpRequest, plan_id: int) -> dict[str, Any]:
    found = queries.moment_engagement(scope_of(request), plan_id)
    return {"posted": found.posted, "comments": found.comments, "likes": found.likes, "read_at": found.read_at,
            "staff": [vars(row) for row in found.rows]}


@router.put("/moments/{plan_id}", response=MomentOut, summary="Change a moment still planned (HQ; 409 after)")
def update_moment(request: HttpRequest, plan_id: int, payload: MomentIn) -> dict[str, Any]:
    scope = scope_of(request)
    plan = services.update_moment(scope=scope, plan_id=plan_id, planned_at=payload.planned_at, text=payload.text,
                                  store_id=payload.store_id, attachments=payload.attachments,
                                  actor=actor_of(request))
    return _moment_out(queries.get_moment_plan(scope, plan.pk))


@router.post("/moments/{plan_id}/cancel", response=MomentOut, summary="Cancel a moment still planned (HQ)")
def cancel_moment(request: HttpRequest, plan_id: int) -> dict[str, Any]:
    scope = scope_of(request)
    services.cancel_moment(scope=scope, plan_id=plan_id, actor=actor_of(request))
    return _moment_out(queries.get_moment_plan(scope, plan_id))


# ---------------------------------------------------------------------------------------------------------------
# Staff personas (the console's rules: a member edits their own, managers their team's, HQ anyone's)


class PersonaIn(Input):
    nickname: str = Field("", max_length=200)
    signature: str = Field("", max_length=200)
    persona_type: str = Field("", max_length=16)


class PersonaOut(Schema):
    staff_id: int
    staff_name: str
    store_id: int | None
    nickname: str
    signature: str
    persona_type: str
    has_avatar: bool
    missing: list[str] = Field(description="checklist items not set yet: nickname, avatar, signature, persona_type")


class ChecklistOut(Schema):
    store: str
    staff: int
    complete: int
    no_nickname: int
    no_avatar: int
    no_signature: int
    no_type: int


def _persona_out(row: Any) -> dict[str, Any]:
    persona = row.persona
    return {"staff_id": row.staff.pk, "staff_name": row.staff.name, "store_id": row.staff.store_id,
            "nickname": persona.nickname if persona else "", "signature": persona.signature if persona else "",
            "persona_type": persona.persona_type if persona else "", "has_avatar": bool(persona and persona.avatar),
            "missing": row.missing}


@router.get("/personas", response=list[PersonaOut], summary="Staff personas in the caller's scope")
def list_personas(request: HttpRequest) -> list[dict[str, Any]]:
    return [_persona_out(row) for row in queries.personas(scope_of(request))]


@router.get("/personas/checklist", response=list[ChecklistOut],
            summary="Complete personas per store (nickname, avatar, signature and type all set)")
def persona_checklist(request: HttpRequest) -> list[dict[str, Any]]:
    return [vars(r) for r in queries.persona_checklist(scope_of(request))]


@router.get("/personas/{staff_id}", response=PersonaOut, summary="One staff member's persona")
def get_persona(request: HttpRequest, staff_id: int) -> dict[str, Any]:
    return _persona_out(queries.persona_of(scope_of(request), staff_id))


@router.post("/personas/{staff_id}/avatar", response=PersonaOut,
             summary="Upload a persona's avatar (multipart `file`: JPEG, PNG, GIF or WebP by content, ≤2 MB)")
def upload_persona_avatar(request: HttpRequest, staff_id: int, file: File[UploadedFile]) -> dict[str, Any]:
    scope = scope_of(request)
    services.set_persona_avatar(scope=scope, staff_id=staff_id, actor=actor_of(request),
                                avatar=services.Upload(stream=file, name=file.name or "", size=file.size or 0))
    return _persona_out(queries.persona_of(scope, staff_id))


@router.get("/personas/{staff_id}/avatar", summary="A persona's avatar (JPEG thumbnail)")
def persona_avatar(request: HttpRequest, staff_id: int) -> FileResponse:
    row = queries.persona_of(scope_of(request), staff_id)
    if row.persona is None or not row.persona.avatar:
        raise NotFound(_("this persona has no avatar"), field="staff_id")
    try:
        stream = default_storage.open(row.persona.avatar, "rb")
    except FileNotFoundError as exc:  # the storage lost it: nothing to show, not a server error
        raise NotFound(_("this persona has no avatar"), field="staff_id") from exc
    response = FileResponse(stream, content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.put("/personas/{staff_id}", response=PersonaOut,
            summary="Set a persona's nickname, signature and type (the avatar: POST …/avatar)")
def update_persona(request: HttpRequest, staff_id: int, payload: PersonaIn) -> dict[str, Any]:
    scope = scope_of(request)
    services.save_persona(scope=scope, staff_id=staff_id, nickname=payload.nickname, signature=payload.signature,
                          persona_type=payload.persona_type, actor=actor_of(request))
    return _persona_out(queries.persona_of(scope, staff_id))
