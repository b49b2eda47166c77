"""Channels over REST (/api/channels/...): accounts and the raw callback log; WeCom under /wecom."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from siyu.api.auth import scope_of
from siyu.channels import queries
from siyu.channels.wecom.api import router as wecom_router
from siyu.channels.wecom.schemas import CallbackPage, WecomAccountOut
from siyu.org.schemas import ErrorOut, OrgPageQuery

router = Router()
router.add_router("/wecom", wecom_router, tags=["wecom"])
ERRORS: dict[int, type[ErrorOut]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


@router.get("/accounts", response={200: list[WecomAccountOut], **ERRORS}, summary="Channel accounts of the enterprise")
def list_accounts(request: HttpRequest, kind: str = "") -> Any:
    return list(queries.accounts(scope_of(request), kind=kind))


@router.get("/callbacks", response={200: CallbackPage, **ERRORS}, summary="The raw inbound callback log (HQ)")
def list_callbacks(
    request: HttpRequest, q: Query[OrgPageQuery], kind: str = "", status: str = "", account_id: int | None = None
) -> dict[str, Any]:
    page = queries.callbacks(
        scope_of(request), kind=kind, status=status, account_id=account_id, page=q.page, page_size=q.page_size
    )
    return {"items": page.items, "total": page.total, "page": page.page, "page_size": page.page_size,
            "pages": page.pages}
