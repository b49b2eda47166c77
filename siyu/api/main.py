"""The REST API: one NinjaAPI with a router per app, OpenAPI at /api/docs."""

from django.http import HttpRequest
from ninja import NinjaAPI

api = NinjaAPI(title="Siyu API", version="1.0.0", urls_namespace="api")


@api.get("/health", auth=None, summary="Liveness check")
def health(request: HttpRequest) -> dict[str, str]:
    return {"status": "ok"}
