"""`siyu import-members FILE [--mapping phone=手机号,name=姓名] [--dry-run] [--enterprise ID]`: import a member sheet
from the command line, in this process, with progress. Running it again on the same file continues an import that
was interrupted (from its checkpoint) and adds nothing to one that finished."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from siyu.core.errors import DomainError
from siyu.customers import member_import
from siyu.customers.models import MemberImport, MemberImportStatus
from siyu.org.models import Enterprise
from siyu.org.scope import Scope


def parse_mapping(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            if not part.strip():
                continue
            key, sep, column = part.partition("=")
            if not sep:
                raise CommandError(f"--mapping takes field=column, not {part!r}")
            out[key.strip()] = column.strip()
    return out


class Command(BaseCommand):
    help = "Import existing members from an Excel (.xlsx) or CSV sheet, with progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--mapping", action="append", default=[],
                            help="field=column header, comma-separated or repeated (default: suggested from headers)")
        parser.add_argument("--enterprise", type=int, help="enterprise id (default: the only one)")
        parser.add_argument("--dry-run", action="store_true", help="check every row and print the report only")
        parser.add_argument("--resume", action="store_true",
                            help="take over an import left 'running' by a process that died")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        scope = Scope.hq(self._enterprise(options["enterprise"]), label="import-members")
        try:
            with path.open("rb") as fh:
                imp = member_import.upload_member_file(scope=scope, stream=fh, filename=path.name)
            mapping = parse_mapping(options["mapping"])
            if mapping and mapping != imp.mapping and imp.status in ("uploaded", "failed") and not imp.checkpoint_row:
                imp = member_import.set_mapping(scope=scope, import_id=imp.pk, mapping=mapping)
            self.stdout.write(f"import {imp.pk}: {imp.filename} ({imp.file_format}); mapping: "
                              + ", ".join(f"{k}={v}" for k, v in imp.mapping.items()))
            if options["dry_run"]:
                report = member_import.dry_run(scope=scope, import_id=imp.pk)
                self._print_errors(imp, report.total_rows, report.error_rows)
                return
            self._run(scope, imp, options["resume"])
        except DomainError as exc:
            raise CommandError(f"{exc.field or 'file'}: {exc.message}") from exc

    def _enterprise(self, wanted: int | None) -> int:
        ids = list(Enterprise.objects.order_by("pk").values_list("pk", flat=True))
        if wanted is not None:
            if wanted not in ids:
                raise CommandError(f"no enterprise {wanted}")
            return wanted
        if len(ids) != 1:
            raise CommandError("say which enterprise with --enterprise ID")
        return ids[0]

    def _run(self, scope: Scope, imp: MemberImport, resume: bool) -> None:
        if imp.status == MemberImportStatus.DONE:
            self.stdout.write(f"already imported: {imp.created_customers} new, {imp.merged_customers} merged, "
                              f"{imp.errors} rows with errors (nothing added)")
            return
        if imp.status == MemberImportStatus.RUNNING:
            if not resume:
                raise CommandError("this import is running (or its process died: add --resume)")
            member_import.resume_stale_import(scope=scope, import_id=imp.pk)
        else:
            member_import.start_member_import(scope=scope, import_id=imp.pk, enqueue=False)
        started = time.monotonic()

        def progress(current: MemberImport) -> None:
            rate = current.processed_rows / max(time.monotonic() - started, 1e-6)
            sys.stderr.write(f"\r  row {current.checkpoint_row:,}: {current.created_customers:,} new, "
                             f"{current.merged_customers:,} merged, {current.errors:,} errors ({rate:,.0f} rows/s)")
            sys.stderr.flush()

        member_import.run_member_import(import_id=imp.pk, progress=progress)
        sys.stderr.write("\n")
        imp.refresh_from_db()
        self.stdout.write(f"done: {imp.processed_rows:,} rows, {imp.created_customers:,} new customers, "
                          f"{imp.merged_customers:,} merged, {imp.errors:,} rows with errors")
        self._print_errors(imp, imp.processed_rows, imp.errors)

    def _print_errors(self, imp: MemberImport, total: int, errors: int) -> None:
        self.stdout.write(f"{total:,} rows, {errors:,} with errors")
        for row in member_import.error_report(import_id=imp.pk)[:20]:
            self.stdout.write(f"  row {row.row_number}: {row.field} {row.value!r}: {row.message} [{row.code}]")
