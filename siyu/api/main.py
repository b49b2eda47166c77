"""The REST API: one NinjaAPI, a router per app (each app's api.py), OpenAPI at /api/docs.

Errors always come back as JSON with a code, a message and, where one input is at fault, its field (and index for
batches): domain errors with their own status, malformed input as 422, never a 500 for bad input.
"""

from __future__ import annotations

from django.db import DataError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from siyu.api.auth import API_AUTH
from siyu.api.params import refuse_unknown_query_parameters
from siyu.core.errors import DomainError

api = NinjaAPI(
    title="Siyu API",
    version="1.0.0",
    description="Private-domain SCRM and commerce. Authenticate with a bearer token or the console session.",
    urls_namespace="api",
    auth=API_AUTH,
)
api.add_decorator(refuse_unknown_query_parameters, mode="view")  # every operation: 400 for an undeclared parameter


@api.exception_handler(DataError)
def _data_error(request: HttpRequest, exc: DataError | OverflowError) -> HttpResponse:
    """A value the database cannot hold (a number out of range, say) that validation let through: the caller's input,
    so a 400; the service's transaction has already rolled back."""
    return _domain_error(request, DomainError(_("a value is out of range or cannot be stored"), code="invalid_input"))


@api.exception_handler(OverflowError)
def _overflow_error(request: HttpRequest, exc: OverflowError) -> HttpResponse:
    """The same input on SQLite: an id beyond 64 bits is refused by the driver as it binds the parameter (PostgreSQL
    compares it as a numeric and finds nothing), so both databases answer the caller alike."""
    return _data_error(request, exc)


@api.exception_handler(DomainError)
def _domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


def _loc_to_field(loc: list[object]) -> tuple[str, int | None]:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload", "form")]
    index = next((int(p) for p in parts if p.isdigit()), None)
    field = ""
    for part in parts:
        field += f"[{part}]" if part.isdigit() else (f".{part}" if field else part)
    return field, index


@api.exception_handler(NinjaValidationError)
def _validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    for err in exc.errors:
        field, index = _loc_to_field(list(err.get("loc", [])))
        errors.append({"field": field, "index": index, "message": err.get("msg", "invalid")})
    first = errors[0] if errors else {"field": "", "index": None, "message": "invalid input"}
    body = {"code": "invalid", "message": first["message"], "field": first["field"], "errors": errors}
    if first["index"] is not None:
        body["index"] = first["index"]
    return api.create_response(request, body, status=422)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, {"code": "unauthorized", "message": "authentication required"}, status=401)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, {"code": "error", "message": str(exc)}, status=exc.status_code)


@api.get("/health", auth=None, summary="Liveness check", tags=["system"])
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}


class ReadyOut(Schema):
    status: str
    checks: dict[str, str]


@api.get("/ready", auth=None, response={200: ReadyOut, 503: ReadyOut}, tags=["system"],
         summary="Readiness: 200 when the database answers and every migration is applied, else 503")
def ready(request: HttpRequest) -> Status[ReadyOut]:
    from siyu.core.ready import checks

    results = checks()
    ok = all(results.values())
    body = ReadyOut(status="ready" if ok else "not ready",
                    checks={name: "ok" if passed else "failed" for name, passed in results.items()})
    return Status(200 if ok else 503, body)


def _mount() -> None:
    from siyu.catalog.api import router as catalog_router
    from siyu.channels.api import router as channels_router
    from siyu.customers.api import router as customers_router
    from siyu.orders.api import router as orders_router
    from siyu.org.api import router as org_router
    from siyu.promotions.api import router as promotions_router

    api.add_router("/org", org_router, tags=["org"])
    api.add_router("/", customers_router, tags=["customers"])
    api.add_router("/admin/member-imports", "siyu.customers.api.member_imports_router", tags=["member import"])
    api.add_router("/admin/order-history-imports", "siyu.orders.api.history_router", tags=["order history import"])
    api.add_router("/channels", channels_router, tags=["channels"])
    api.add_router("/oa", "siyu.channels.official_account.api.router", tags=["oa"])
    api.add_router("/catalog", catalog_router, tags=["catalog"])
    api.add_router("/promotions", promotions_router, tags=["promotions"])
    api.add_router("/", "siyu.storefront.api.router", tags=["storefront"])
    api.add_router("/storefront-admin", "siyu.storefront.api.design_router", tags=["store design"])
    api.add_router("/", orders_router, tags=["orders"])
    api.add_router("/audiences", "siyu.audiences.api.router", tags=["audiences"])
    api.add_router("/analytics", "siyu.analytics.api.router", tags=["analytics"])
    api.add_router("/finance", "siyu.finance.api.router", tags=["finance"])
    api.add_router("/finance", "siyu.finance.commission_api.router", tags=["finance"])
    api.add_router("/", "siyu.finance.api.storefront_router", tags=["finance"])
    api.add_router("/finance/reconciliation", "siyu.finance.reconciliation.api.router", tags=["finance"])
    api.add_router("/content", "siyu.content.api.router", tags=["content"])
    api.add_router("/loyalty", "siyu.loyalty.api.router", tags=["loyalty"])
    api.add_router("/storefront", "siyu.content.api.storefront_router", tags=["storefront"])
    api.add_router("/storefront", "siyu.loyalty.api.storefront_router", tags=["storefront"])
    api.add_router("/referrals", "siyu.referrals.api.router", tags=["referrals"])
    api.add_router("/journeys", "siyu.automation.api.router", tags=["journeys"])
    api.add_router("/campaigns", "siyu.messaging.api.router", tags=["campaigns"])
    api.add_router("/storefront", "siyu.referrals.api.storefront_router", tags=["storefront"])
    api.add_router("/storefront", "siyu.storefront.privacy_api.router", tags=["storefront"])
    api.add_router("/setup", "siyu.setup.api.router", tags=["setup"])
    api.add_router("/exports", "siyu.exports.api.router", tags=["exports"])


_mount()
