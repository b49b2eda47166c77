"""Platform errcodes as a person reads them: one lookup for every channel's table of translated meanings."""

from __future__ import annotations

from collections.abc import Mapping

from django.utils.functional import Promise
from django.utils.translation import gettext


class ErrcodeTable:
    def __init__(self, meanings: Mapping[int, Promise]) -> None:
        self.meanings = meanings

    def meaning(self, errcode: int | str | None) -> str:
        """The translated meaning of an errcode, or "" when the code is none, 0 or unknown."""
        try:
            code = int(errcode) if errcode not in (None, "") else 0
        except (TypeError, ValueError):
            return ""
        text = self.meanings.get(code) if code else None
        return str(text) if text is not None else ""

    def describe(self, errcode: int | str | None) -> str:
        """"Meaning (errcode N)" for a known code, the bare code for an unknown one, "" for none or 0."""
        if errcode in (None, "", 0, "0"):
            return ""
        found = self.meaning(errcode)
        if not found:
            return str(errcode)
        return gettext("%(meaning)s (errcode %(code)s)") % {"meaning": found, "code": errcode}
