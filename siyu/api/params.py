"""Refuse query parameters an operation does not declare.

A misspelt or unsupported filter that is silently ignored answers a different question than the one asked
(`/api/admin/orders?customer_id=753` used to list every order). Each operation's declared query names come from the
models ninja builds from its signature (the same ones the OpenAPI document lists), so a new operation is covered the
day it is added; the check runs before authentication and validation, so nothing is read or written.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext_lazy as _
from ninja.operation import Operation

from siyu.core.errors import DomainError

Run = Callable[..., HttpResponseBase]


def declared_query_names(operation: Operation) -> frozenset[str]:
    """The query keys an operation reads: ninja flattens a `Query[Schema]` argument into one key per field."""
    names: set[str] = set()
    for model in operation.models:
        if model.__ninja_param_source__ == "query":
            names.update(getattr(model, "__ninja_flatten_map__", {}) or model.model_fields)
    return frozenset(names)


def refuse_unknown_query_parameters(run: Run) -> Run:
    """A ninja "view" decorator (applied to Operation.run, before auth and validation): 400 naming the first
    undeclared parameter."""
    operation = getattr(run, "__self__", None)
    if not isinstance(operation, Operation):  # pragma: no cover - ninja always hands a bound Operation.run
        return run
    allowed = declared_query_names(operation)

    @wraps(run)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        unknown = next((key for key in request.GET if key not in allowed), None)
        if unknown is not None:
            known = ", ".join(sorted(allowed)) or "none"
            name = unknown[:100]
            error = DomainError(
                _("unknown query parameter %(name)s (this operation takes: %(known)s)")
                % {"name": repr(name), "known": known},
                field=name, code="unknown_parameter",
            )
            return operation.api.create_response(request, error.as_dict(), status=error.status)
        return run(request, *args, **kwargs)

    return checked
