"""Event types this app adds to the customer event log."""

from __future__ import annotations

from pydantic import Field

from siyu.customers.events import EventProperties, register


class ContactTransferred(EventProperties):
    from_staff_id: int = Field(ge=1)
    to_staff_id: int = Field(ge=1)
    kind: str = Field(default="", max_length=20)


def install() -> None:
    register("wecom_contact_transferred", ContactTransferred)
