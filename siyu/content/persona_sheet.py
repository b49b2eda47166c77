"""The persona audit as an Excel workbook (HQ chases stores with it): one row per active staff member."""

from __future__ import annotations

import io
from collections.abc import Iterable

from django.utils.translation import gettext as _
from openpyxl import Workbook

from siyu.content.queries import PersonaRow


def xlsx_bytes(rows: Iterable[PersonaRow]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Staff personas"))
    sheet.append([_("Store"), _("Staff"), _("Nickname"), _("Avatar"), _("Signature"), _("Persona type"),
                  _("Complete"), _("Missing")])
    yes, no = _("Yes"), _("No")
    for row in rows:
        persona = row.persona
        sheet.append([
            row.staff.store.name if row.staff.store else "—", row.staff.name,
            persona.nickname if persona else "", yes if persona and persona.avatar else no,
            persona.signature if persona else "",
            persona.get_persona_type_display() if persona and persona.persona_type else "",
            yes if row.complete else no, "、".join(row.missing_labels),
        ])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
