"""Event types this app adds to the customer event log."""

from __future__ import annotations

from pydantic import Field

from siyu.customers.events import EventProperties, register


class MenuClicked(EventProperties):
    kind: str = Field(pattern="^(click|view)$")
    key: str = Field(default="", max_length=1024)


register("oa_menu_clicked", MenuClicked)
