"""Dashboards over REST: `GET /api/analytics/dashboards/{name}` with the console's filters as the query string
(start, end, channel, store, region; the funnel's steps and windows; retention's cohort and period). The caller's
scope decides what is counted, exactly as on the console pages; money is integer fen; `fresh_as_of` says how fresh
the answer is."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from siyu.analytics import queries
from siyu.analytics.schemas import DashboardOut, DashboardQuery
from siyu.api.auth import scope_of
from siyu.org.schemas import ErrorOut

router = Router()

ERRORS: dict[int, type[ErrorOut]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 503: ErrorOut}


@router.get("/dashboards", response={200: list[str], **ERRORS}, summary="The dashboards' names")
def list_dashboards(request: HttpRequest) -> list[str]:
    scope_of(request)
    return queries.names()


@router.get("/dashboards/{name}", response={200: DashboardOut, **ERRORS},
            summary="A dashboard's figures and tables over the caller's customers")
def get_dashboard(request: HttpRequest, name: str, filters: Query[DashboardQuery]) -> dict[str, Any]:
    scope = scope_of(request)
    return queries.dashboard_json(scope, name, filters.dict(exclude_none=True))
