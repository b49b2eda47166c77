"""Official Account settings over REST (mounted at /api/oa). Thin: check the scope, call one service or query."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from siyu.api.auth import actor_of, scope_of
from siyu.channels.official_account import queries, services
from siyu.core.pagination import MAX_PAGE_SIZE
from siyu.org.schemas import ErrorOut

router = Router()


ERRORS: dict[int, type[ErrorOut]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}


class OaAccountOut(Schema):
    id: int
    name: str
    app_id: str
    base_url: str
    is_active: bool


class ArticleIn(Schema):
    title: str
    description: str = ""
    url: str
    pic_url: str = ""


class KeywordIn(Schema):
    keyword: str
    match: str = "exact"
    priority: int = 0
    kind: str = "text"
    content: str = ""
    articles: list[ArticleIn] = []
    is_active: bool = True


class KeywordPatch(Schema):
    keyword: str | None = None
    match: str | None = None
    priority: int | None = None
    kind: str | None = None
    content: str | None = None
    articles: list[ArticleIn] | None = None
    is_active: bool | None = None


class KeywordOut(Schema):
    id: int
    keyword: str
    match: str
    priority: int
    kind: str
    content: str
    articles: list[dict[str, str]]
    is_active: bool
    hits: int


class FollowReplyIn(Schema):
    kind: str = "text"
    content: str = ""
    articles: list[ArticleIn] = []
    is_active: bool = True


class FollowReplyOut(Schema):
    kind: str
    content: str
    articles: list[dict[str, str]]
    is_active: bool


class MenuIn(Schema):
    button: Any = Field(description="The platform's menu JSON: 1-3 buttons, each a leaf or 1-5 sub_button")


class MenuOut(Schema):
    button: list[dict[str, Any]]
    version: int
    status: str
    error: str
    pushed_version: int


class QrSceneIn(Schema):
    name: str
    permanent: bool = False
    scene_id: int | None = None
    scene_str: str = ""
    expire_seconds: int | None = None
    tag_ids: list[int] = []
    reply_text: str = ""


class QrSceneOut(Schema):
    id: int
    name: str
    scene: str
    permanent: bool
    expire_seconds: int | None
    ticket: str
    url: str
    image_url: str
    expires_at: datetime | None
    error: str
    follows: int
    scans: int


class DayStatOut(Schema):
    day: date
    follows: int
    scans: int


class TemplateIn(Schema):
    openid: str
    template_id: str
    data: dict[str, Any]
    idempotency_key: str
    url: str = ""
    miniprogram: dict[str, str] | None = None


class TemplateOut(Schema):
    id: int
    idempotency_key: str
    openid: str
    template_id: str
    status: str
    attempts: int
    msgid: str
    errcode: int | None
    error: str
    delivery: str
    created_at: datetime
    sent_at: datetime | None


class OaCallbackOut(Schema):
    id: int
    event: str
    status: str
    signature_ok: bool
    error: str
    received_at: datetime
    processed_at: datetime | None


class FollowerSyncOut(Schema):
    id: int
    account_id: int
    status: str
    total: int
    pages_done: int
    seen: int
    imported: int
    created: int
    merged: int
    failed: int
    unfollowed: int
    percent: int
    error: str
    started_at: datetime
    finished_at: datetime | None


class OaPageQuery(Schema):
    status: str = Field("", max_length=20)
    page: int = Field(1, ge=1, le=1_000_000)
    page_size: int = Field(20, ge=1, le=MAX_PAGE_SIZE)


def _articles(items: list[ArticleIn] | None) -> list[dict[str, str]]:
    return [item.dict() for item in items or []]


@router.get("/accounts", response={200: list[OaAccountOut], **ERRORS}, summary="Official Accounts")
def list_accounts(request: HttpRequest) -> Any:
    return queries.accounts(scope_of(request))


@router.get("/accounts/{account_id}/keywords", response={200: list[KeywordOut], **ERRORS})
def list_keywords(request: HttpRequest, account_id: int) -> Any:
    return list(queries.keyword_replies(scope_of(request), account_id))


@router.post("/accounts/{account_id}/keywords", response={201: KeywordOut, **ERRORS})
def create_keyword(request: HttpRequest, account_id: int, payload: KeywordIn) -> Any:
    scope = scope_of(request)
    queries.account(scope, account_id)
    rule = services.create_keyword_reply(
        enterprise_id=scope.enterprise_id, account_id=account_id, keyword=payload.keyword, match=payload.match,
        priority=payload.priority, kind=payload.kind, content=payload.content, articles=_articles(payload.articles),
        is_active=payload.is_active, actor=actor_of(request),
    )
    return Status(201, rule)


@router.patch("/keywords/{reply_id}", response={200: KeywordOut, **ERRORS})
def update_keyword(request: HttpRequest, reply_id: int, payload: KeywordPatch) -> Any:
    scope = scope_of(request)
    queries.keyword_reply(scope, reply_id)
    changes = payload.dict(exclude_unset=True)
    if "articles" in changes:
        changes["articles"] = _articles(payload.articles)
    return services.update_keyword_reply(
        enterprise_id=scope.enterprise_id, reply_id=reply_id, changes=changes, actor=actor_of(request)
    )


@router.delete("/keywords/{reply_id}", response={204: None, **ERRORS})
def delete_keyword(request: HttpRequest, reply_id: int) -> Any:
    scope = scope_of(request)
    queries.keyword_reply(scope, reply_id)
    services.delete_keyword_reply(enterprise_id=scope.enterprise_id, reply_id=reply_id, actor=actor_of(request))
    return Status(204, None)


@router.put("/accounts/{account_id}/follow-reply", response={200: FollowReplyOut, **ERRORS})
def put_follow_reply(request: HttpRequest, account_id: int, payload: FollowReplyIn) -> Any:
    scope = scope_of(request)
    queries.account(scope, account_id)
    return services.set_follow_reply(
        enterprise_id=scope.enterprise_id, account_id=account_id, kind=payload.kind, content=payload.content,
        articles=_articles(payload.articles), is_active=payload.is_active, actor=actor_of(request),
    )


def _menu_out(menu: Any) -> dict[str, Any]:
    return {"button": menu.buttons, "version": menu.version, "status": menu.status, "error": menu.error,
            "pushed_version": menu.pushed_version}


@router.get("/accounts/{account_id}/menu", response={200: MenuOut, **ERRORS})
def get_menu(request: HttpRequest, account_id: int) -> Any:
    menu = queries.menu(scope_of(request), account_id)
    if menu is None:
        return {"button": [], "version": 0, "status": "draft", "error": "", "pushed_version": 0}
    return _menu_out(menu)


@router.put("/accounts/{account_id}/menu", response={200: MenuOut, **ERRORS},
            summary="Validate and save the custom menu; the worker pushes it to the platform")
def put_menu(request: HttpRequest, account_id: int, payload: MenuIn) -> Any:
    scope = scope_of(request)
    queries.account(scope, account_id)
    menu = services.save_menu(
        enterprise_id=scope.enterprise_id, account_id=account_id, buttons=payload.button, actor=actor_of(request)
    )
    menu = queries.menu(scope, account_id) or menu
    return _menu_out(menu)


def _scene_out(row: queries.SceneRow) -> dict[str, Any]:
    scene = row.scene
    return {
        "id": scene.pk, "name": scene.name, "scene": scene.scene, "permanent": scene.permanent,
        "expire_seconds": scene.expire_seconds, "ticket": scene.ticket, "url": scene.url, "image_url": row.image_url,
        "expires_at": scene.expires_at, "error": scene.error, "follows": row.follows, "scans": row.scans,
    }


@router.get("/accounts/{account_id}/qr-scenes", response={200: list[QrSceneOut], **ERRORS})
def list_qr_scenes(request: HttpRequest, account_id: int) -> Any:
    return [_scene_out(row) for row in queries.qr_scenes(scope_of(request), account_id)]


@router.post("/accounts/{account_id}/qr-scenes", response={201: QrSceneOut, **ERRORS})
def create_qr_scene(request: HttpRequest, account_id: int, payload: QrSceneIn) -> Any:
    scope = scope_of(request)
    queries.account(scope, account_id)
    scene = services.create_qr_scene(
        enterprise_id=scope.enterprise_id, account_id=account_id, name=payload.name, permanent=payload.permanent,
        scene_id=payload.scene_id, scene_str=payload.scene_str, expire_seconds=payload.expire_seconds,
        tag_ids=payload.tag_ids, reply_text=payload.reply_text, actor=actor_of(request),
    )
    row = next(r for r in queries.qr_scenes(scope, account_id) if r.scene.pk == scene.pk)
    return Status(201, _scene_out(row))


@router.get("/qr-scenes/{scene_pk}/daily", response={200: list[DayStatOut], **ERRORS})
def qr_scene_daily(request: HttpRequest, scene_pk: int, days: int = 30) -> Any:
    return queries.scene_daily(scope_of(request), scene_pk, days=days)


@router.post("/accounts/{account_id}/template-messages", response={202: TemplateOut, **ERRORS},
             summary="Queue a template message (idempotent by idempotency_key)")
def send_template(request: HttpRequest, account_id: int, payload: TemplateIn) -> Any:
    scope = scope_of(request)
    queries.account(scope, account_id)
    row = services.send_template_message(
        enterprise_id=scope.enterprise_id,
        account_id=account_id,
        request=services.TemplateRequest(
            openid=payload.openid, template_id=payload.template_id, data=payload.data,
            idempotency_key=payload.idempotency_key, url=payload.url, miniprogram=payload.miniprogram,
        ),
        actor=actor_of(request),
    )
    return Status(202, queries.template_send(scope, row.pk))


@router.get("/accounts/{account_id}/template-messages", response={200: list[TemplateOut], **ERRORS})
def list_templates(request: HttpRequest, account_id: int, params: Query[OaPageQuery]) -> Any:
    page = queries.template_sends(
        scope_of(request), account_id, status=params.status, page=params.page, page_size=params.page_size
    )
    return page.items


@router.get("/accounts/{account_id}/callbacks", response={200: list[OaCallbackOut], **ERRORS})
def list_callbacks(request: HttpRequest, account_id: int, params: Query[OaPageQuery]) -> Any:
    page = queries.callback_log(
        scope_of(request), account_id, status=params.status, page=params.page, page_size=params.page_size
    )
    return page.items


@router.post("/accounts/{account_id}/follower-sync", response={202: FollowerSyncOut, **ERRORS},
             summary="Import every follower (user/get + user/info/batchget) in the worker; HQ only")
def start_follower_sync(request: HttpRequest, account_id: int) -> Status[Any]:
    scope = scope_of(request)
    queries.account(scope, account_id)
    run = services.start_follower_sync(
        enterprise_id=scope.enterprise_id, account_id=account_id, actor=actor_of(request)
    )
    return Status(202, queries.follower_sync(scope, run.pk))


@router.get("/accounts/{account_id}/follower-syncs", response={200: list[FollowerSyncOut], **ERRORS},
            summary="The account's latest follower syncs, newest first")
def list_follower_syncs(request: HttpRequest, account_id: int) -> Any:
    return queries.follower_syncs(scope_of(request), account_id)


@router.get("/follower-syncs/{run_id}", response={200: FollowerSyncOut, **ERRORS}, summary="A follower sync's progress")
def get_follower_sync(request: HttpRequest, run_id: int) -> Any:
    return queries.follower_sync(scope_of(request), run_id)
