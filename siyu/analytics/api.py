"""Dashboards over REST: `GET /api/analytics/dashboards/<name>` (see queries.DASHBOARDS) with the
console's filters as the query string (start, end, channel, store, region; the funnel's steps and windows;
retention's cohort and period). The caller's scope decides what is counted, exactly as on the console pages; money
is integer fen; `fresh_as_of` says how fresh the answer is."""

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


# One operation per dashboard, so `{name}` is never a path parameter that could be mistaken for a row id.
SUMMARIES = {
    "overview": "Overview: pool, contacts, active customers, GMV, orders, AOV, conversion, repurchase",
    "conversion": "Conversion: the AARRR funnel and cycle by cohort and source; the N-step event funnel",
    "retention": "Retention: weekly or monthly cohorts, activity and purchase",
    "products": "Products: sales trend with anomalies, repurchase, bought-together pairs, role matrix, buyer sources",
    "users": "Users: RFM cells, lifecycle flow between the range's ends, tiers, super users",
    "campaigns": "Campaigns and journeys: reach, sends, conversions, revenue by campaign, variant, channel, staff, "
                 "store; peak hours; journey node funnels",
    "supervision": "Supervision: staff tasks by region, store and staff; staff leaderboard",
    "traffic": "Traffic: new customers by channel, code, scene, store and staff; natural vs paid; cost per customer",
}


def _operation(name: str) -> None:
    def answer(request: HttpRequest, filters: Query[DashboardQuery]) -> dict[str, Any]:
        return queries.dashboard_json(scope_of(request), name, filters.dict(exclude_none=True))

    answer.__name__ = f"dashboard_{name}"
    router.get(f"/dashboards/{name}", response={200: DashboardOut, **ERRORS}, summary=SUMMARIES[name],
               operation_id=f"analytics_dashboard_{name}")(answer)


for _name in queries.names():
    _operation(_name)
