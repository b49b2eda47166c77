"""Typed domain errors. Services raise them; the API maps each to a 4xx with a code and the failing field.

The code is the stable part (clients branch on it); the message is for a person and is written in English source
wrapped in gettext (`gettext_lazy as _` where it is raised), so `message` reads in the language active where it is
shown: the console request's, or the API caller's (Accept-Language). A message with values (`_("...%(n)s") % {...}`)
is formatted when raised, in the language of the request that raised it. `tests/core/test_error_messages.py` fails on a
literal message that is not wrapped.
"""

from __future__ import annotations

from typing import Any

from django_stubs_ext import StrPromise


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(
        self, message: str | StrPromise, *, field: str | None = None, index: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self._message = message
        self.field = field
        self.index = index
        if code:
            self.code = code

    @property
    def message(self) -> str:
        """The message in the language active now (a lazy translation is rendered at each read)."""
        return str(self._message)

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.index is not None:
            body["index"] = self.index
        return body


class ValidationFailed(DomainError):
    status = 422
    code = "invalid"


class GateError(DomainError):
    """The caller may not reach what they asked for: not in their scope (NotFound) or not their role's to do
    (PermissionDenied). Console pages answer these with the 404/403 page, never as a form error or a flash message,
    so a page behaves the same whatever the form carried."""


class NotFound(GateError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class PermissionDenied(GateError):
    status = 403
    code = "forbidden"


class UpstreamError(DomainError):
    """A platform (WeCom, the Official Account, the mini-program, WeChat Pay) refused or could not be reached: not the
    caller's input and not our bug, so a 502 the caller may retry, never a 500."""

    status = 502
    code = "upstream_error"
