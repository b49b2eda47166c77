"""`siyu consistency`: check the facts that must hold across tables (siyu.ops.consistency); exit 1 on a finding."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from siyu.ops.consistency import run


class Command(BaseCommand):
    help = "Check cross-table facts (ledger, payments, order events); exit status 1 when one is broken."

    def handle(self, *args: Any, **options: Any) -> None:
        findings = run()
        for finding in findings:
            sample = ", ".join(str(pk) for pk in finding.sample)
            self.stdout.write(f"{finding.check}: {finding.count} (ids {sample})")
        if findings:
            raise CommandError(f"{len(findings)} consistency checks failed")
        self.stdout.write("consistent: every check passed")
