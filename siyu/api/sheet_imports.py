"""The API every sheet import has (HQ only): upload a sheet, list the imports, read one, set its mapping, preview,
dry run, start the background job, read the report. `add_routes` puts the eight handlers on an app's router; each
import gives its services, its output schemas, the name its paths give the import's id (the OpenAPI documents and
the permission and tenancy worlds key on it) and the module its handlers are documented under (so the operation ids
stay those its own handlers had)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from django.http import HttpRequest
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from siyu.api.auth import actor_of, scope_of


class MappingIn(Schema):
    mapping: dict[str, str]


class ProblemOut(Schema):
    field: str
    code: str
    message: str
    value: str


class PreviewRowOut(Schema):
    row_number: int
    values: dict[str, str]
    problems: list[ProblemOut]


class RowErrorOut(Schema):
    row_number: int
    field: str
    code: str
    message: str
    value: str


@dataclass(frozen=True)
class Routes:
    """What one import's API needs: its services (each takes the scope and checks it) and its words."""

    upload: Callable[..., Any]
    imports: Callable[..., Any]
    get: Callable[..., Any]
    set_mapping: Callable[..., Any]
    preview: Callable[..., Any]
    dry_run: Callable[..., Any]
    start: Callable[..., Any]
    error_report: Callable[..., Any]
    out: type[Schema]
    dry_run_out: type[Schema]
    tags: list[str]
    id_name: str  # the path's name for the import id
    module: str  # the handlers are documented as this module's
    names: dict[str, str]  # handler -> the function name the operation id is made of
    summaries: dict[str, str]


def _handler(fn: Callable[..., Any], routes: Routes, key: str) -> Callable[..., Any]:
    """`fn` takes `import_id`; the handler ninja sees names it `routes.id_name` (the path's name) and carries the
    import's own function name and module."""
    hints = get_type_hints(fn, include_extras=True)
    params = [inspect.Parameter(routes.id_name if p.name == "import_id" else p.name, p.kind, default=p.default,
                                annotation=hints.get(p.name, inspect.Parameter.empty))
              for p in inspect.signature(fn).parameters.values()]

    def view(request: HttpRequest, **kwargs: Any) -> Any:
        if routes.id_name in kwargs:
            kwargs["import_id"] = kwargs.pop(routes.id_name)
        return fn(request, **kwargs)

    view.__signature__ = inspect.Signature(params, return_annotation=hints.get("return", Any))  # type: ignore[attr-defined]
    view.__name__ = view.__qualname__ = routes.names[key]
    view.__module__ = routes.module
    view.__doc__ = fn.__doc__
    return view


def add_routes(router: Router, routes: Routes) -> None:
    one = f"/{{{routes.id_name}}}"
    tags = routes.tags
    summary = routes.summaries

    def upload(request: HttpRequest, file: File[UploadedFile]) -> Status[Any]:
        imp = routes.upload(scope=scope_of(request), stream=file, filename=file.name or "", actor=actor_of(request))
        return Status(201, imp)

    def list_imports(request: HttpRequest) -> Any:
        return list(routes.imports(scope=scope_of(request))[:100])

    def detail(request: HttpRequest, import_id: int) -> Any:
        return routes.get(scope=scope_of(request), import_id=import_id)

    def mapping(request: HttpRequest, import_id: int, payload: MappingIn) -> Any:
        return routes.set_mapping(scope=scope_of(request), import_id=import_id, mapping=payload.mapping,
                                  actor=actor_of(request))

    def preview(request: HttpRequest, import_id: int) -> Any:
        return routes.preview(scope=scope_of(request), import_id=import_id, limit=20)

    def dry_run(request: HttpRequest, import_id: int) -> Any:
        return routes.dry_run(scope=scope_of(request), import_id=import_id, actor=actor_of(request))

    def start(request: HttpRequest, import_id: int) -> Status[Any]:
        return Status(202, routes.start(scope=scope_of(request), import_id=import_id, actor=actor_of(request)))

    def errors(request: HttpRequest, import_id: int, offset: int = 0) -> Any:
        rows = routes.error_report(scope=scope_of(request), import_id=import_id)
        start_at = max(offset, 0)
        return list(rows[start_at:start_at + 1000])

    router.post("", response={201: routes.out}, tags=tags, summary=summary["upload"])(
        _handler(upload, routes, "upload"))
    router.get("", response=list[routes.out], tags=tags, summary=summary["list"])(  # type: ignore[name-defined]
        _handler(list_imports, routes, "list"))
    router.get(one, response=routes.out, tags=tags, summary=summary["detail"])(_handler(detail, routes, "detail"))
    router.put(f"{one}/mapping", response=routes.out, tags=tags, summary=summary["mapping"])(
        _handler(mapping, routes, "mapping"))
    router.get(f"{one}/preview", response=list[PreviewRowOut], tags=tags, summary=summary["preview"])(
        _handler(preview, routes, "preview"))
    router.post(f"{one}/dry-run", response=routes.dry_run_out, tags=tags, summary=summary["dry_run"])(
        _handler(dry_run, routes, "dry_run"))
    router.post(f"{one}/start", response={202: routes.out}, tags=tags, summary=summary["start"])(
        _handler(start, routes, "start"))
    router.get(f"{one}/errors", response=list[RowErrorOut], tags=tags, summary=summary["errors"])(
        _handler(errors, routes, "errors"))
