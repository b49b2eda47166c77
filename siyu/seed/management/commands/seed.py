"""`siyu seed --customers N --events M --seed S [--enterprise CODE]`: generate a demo enterprise set-based."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from siyu.core.errors import DomainError
from siyu.core.seed.progress import Progress
from siyu.seed.runner import EVENTS_PER_CUSTOMER, seed_enterprise


class Command(BaseCommand):
    help = "Generate a plausible demo enterprise: org, customers, identities, followers, tags and a year of events."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=20_000)
        parser.add_argument("--events", type=int, default=None,
                            help=f"total events (default {EVENTS_PER_CUSTOMER} per customer)")
        parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same data")
        parser.add_argument("--enterprise", default="demo", help="enterprise code (must not exist yet)")
        parser.add_argument("--name", default="思域优选", help="enterprise display name")
        parser.add_argument("--until", type=dt.date.fromisoformat, default=None,
                            help="the data ends the day before this date (YYYY-MM-DD; default today)")

    def handle(self, *args: Any, **options: Any) -> None:
        progress = Progress(write=lambda line: self.stdout.write(line), every=2.0)
        try:
            result = seed_enterprise(
                customers=options["customers"], events=options["events"], seed=options["seed"],
                code=options["enterprise"], name=options["name"], until=options["until"], progress=progress,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(
            f"seeded {result.code}: {result.customers:,} customers, {result.identities:,} identities, "
            f"{result.relationships:,} relationships, {result.customer_tags:,} tags, {result.events:,} events "
            f"in {result.seconds:.1f}s"
        ))
