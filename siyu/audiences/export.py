"""Segment members as CSV (streamed) or Excel (openpyxl, write-only): the viewer's customers only, phones masked
for store staff as everywhere else."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from siyu.customers.models import Customer
from siyu.customers.privacy import phone_for
from siyu.org.scope import Scope


def header() -> list[str]:
    return [_("ID"), _("Name"), _("Phone"), _("Gender"), _("Region"), _("Home store"), _("Source"), _("Joined")]


def row(scope: Scope, customer: Customer) -> list[str]:
    store = customer.home_store.name if customer.home_store_id and customer.home_store else ""
    joined = timezone.localtime(customer.created_at).strftime("%Y-%m-%d %H:%M") if customer.created_at else ""
    return [str(customer.pk), customer.name, phone_for(scope, customer.phone), customer.get_gender_display(),
            customer.region, store, customer.get_created_source_display(), joined]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(scope: Scope, customers: Iterable[Customer]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header())  # a BOM so Excel opens the UTF-8 as such
    for customer in customers:
        yield writer.writerow(row(scope, customer))


def xlsx_bytes(scope: Scope, customers: Iterable[Customer], *, title: str = "members") -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31] or "members")
    sheet.append(header())
    for customer in customers:
        sheet.append(row(scope, customer))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
