"""Regions, stores and staff as the caller's scope sees them; API tokens for integrations (HQ only)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from siyu.api.auth import actor_of, scope_of
from siyu.core.errors import PermissionDenied
from siyu.core.pagination import Page, paginate
from siyu.org import queries, services
from siyu.org.schemas import (
    ErrorOut,
    OrgPageQuery,
    RegionPage,
    StaffPage,
    StorePage,
    TokenIn,
    TokenInfoOut,
    TokenOut,
    TokenPage,
)

router = Router()

ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


def _page(page: Page[Any]) -> dict[str, Any]:
    return {
        "items": page.items,
        "total": page.total,
        "page": page.page,
        "page_size": page.page_size,
        "pages": page.pages,
    }


@router.get("/regions", response={200: RegionPage, **ERRORS}, summary="Regions the caller may see")
def list_regions(request: HttpRequest, params: Query[OrgPageQuery]) -> dict[str, Any]:
    qs = queries.regions_with_counts(scope_of(request))
    return _page(paginate(qs, page=params.page, page_size=params.page_size))


@router.get("/stores", response={200: StorePage, **ERRORS}, summary="Stores the caller may see")
def list_stores(request: HttpRequest, params: Query[OrgPageQuery]) -> dict[str, Any]:
    qs = queries.stores_with_counts(scope_of(request))
    return _page(paginate(qs, page=params.page, page_size=params.page_size))


@router.get("/staff", response={200: StaffPage, **ERRORS}, summary="Staff the caller may see")
def list_staff(request: HttpRequest, params: Query[OrgPageQuery]) -> dict[str, Any]:
    qs = queries.staff(scope_of(request)).order_by("id")
    return _page(paginate(qs, page=params.page, page_size=params.page_size))


@router.post(
    "/tokens",
    response={201: TokenOut, **ERRORS},
    summary="Create an API token for a staff member (HQ admin); the secret is returned once",
)
def create_token(request: HttpRequest, payload: TokenIn) -> Status[dict[str, Any]]:
    scope = scope_of(request)
    if not scope.is_hq:
        raise PermissionDenied("only HQ admins create API tokens")
    staff = queries.get_staff(scope, payload.staff_id)
    token, secret = services.create_api_token(staff=staff, name=payload.name, actor=actor_of(request))
    return Status(
        201,
        {
            "id": token.pk,
            "name": token.name,
            "prefix": token.prefix,
            "staff_id": token.staff_id,
            "created_at": token.created_at,
            "secret": secret,
        },
    )


@router.get("/tokens", response={200: TokenPage, **ERRORS}, summary="API tokens of the enterprise (HQ admin)")
def list_tokens(request: HttpRequest, params: Query[OrgPageQuery]) -> dict[str, Any]:
    qs = queries.api_tokens(scope_of(request))
    return _page(paginate(qs, page=params.page, page_size=params.page_size))


@router.delete(
    "/tokens/{int:token_id}",
    response={200: TokenInfoOut, **ERRORS},
    summary="Revoke an API token (HQ admin); requests with it are refused from now on",
)
def revoke_token(request: HttpRequest, token_id: int) -> Any:
    scope = scope_of(request)
    token = queries.get_api_token(scope, token_id)
    services.revoke_api_token(token_id=token.pk, actor=actor_of(request))
    return queries.get_api_token(scope, token_id)
