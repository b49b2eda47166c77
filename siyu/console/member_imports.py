"""Console pages for the member import (HQ only): upload, column mapping with a preview, the dry-run report,
progress (htmx polling), history, and the report as an Excel download; the shape every sheet import shares is
`siyu.console.sheet_imports`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_
from django.views.decorators.http import require_POST

from siyu.console.sheet_imports import Service, SheetImportPages
from siyu.console.views import console_view
from siyu.customers import member_import
from siyu.customers.member_sheet import FIELDS, IDENTITY_FIELDS

FIELD_LABELS = {
    "phone": N_("Phone"), "name": N_("Name"), "gender": N_("Gender"), "birthday": N_("Birthday"),
    "store_code": N_("Store code"), "points": N_("Points balance"), "tier": N_("Tier"), "tags": N_("Tags"),
    "unionid": N_("unionid"), "openid": N_("Official Account openid"), "mp_openid": N_("Mini-program openid"),
    "card_no": N_("Member card number"), "first_purchase": N_("First purchase date"),
    "last_purchase": N_("Last purchase date"), "lifetime_spend": N_("Lifetime spend (yuan)"),
}


def _dry_run_message(report: Any) -> str:
    return _("Dry run: %(total)s rows, %(bad)s with errors; nothing was imported.") % {
        "total": report.total_rows, "bad": report.error_rows}


PAGES = SheetImportPages(
    service=Service(upload=member_import.upload_member_file, imports=member_import.imports,
                    get=member_import.get_import, error_report=member_import.error_report,
                    preview=member_import.preview, set_mapping=member_import.set_mapping,
                    dry_run=member_import.dry_run, start=member_import.start_member_import,
                    resume=member_import.resume_stale_import),
    fields=FIELDS, field_labels=FIELD_LABELS, needed=lambda key: key in IDENTITY_FIELDS,
    list_template="customers/member_imports/list.html", detail_template="customers/member_imports/detail.html",
    progress_template="customers/member_imports/_progress.html", detail_url="member_imports:detail",
    action_url="member_imports:action", errors_url="member_imports:errors",
    dry_run_message=_dry_run_message, report_name="member-import")


@console_view
def import_list(request: HttpRequest) -> HttpResponse:
    return PAGES.list_page(request)


@console_view
def import_detail(request: HttpRequest, member_import_id: int) -> HttpResponse:
    return PAGES.detail_page(request, member_import_id)


@console_view
@require_POST
def import_action(request: HttpRequest, member_import_id: int, action: str) -> HttpResponse:
    return PAGES.action(request, member_import_id, action)


@console_view
def import_errors_xlsx(request: HttpRequest, member_import_id: int) -> HttpResponse:
    return PAGES.errors_xlsx(request, member_import_id)
