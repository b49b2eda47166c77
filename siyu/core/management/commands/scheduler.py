"""`siyu scheduler`: enqueue the registered periodic jobs when they fall due (expiring unpaid orders, coupons...).

Run one or several (on several machines for availability): each job is enqueued once per period by whichever
scheduler claims that period first (siyu.core.periodic).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from siyu.core.periodic import forget_claims_before, periodic_jobs, run_due

KEEP_CLAIMS_S = 2 * 86400
PRUNE_EVERY_S = 3600


class Command(BaseCommand):
    help = "Enqueue periodic jobs for the worker when they fall due (once a period however many schedulers run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="enqueue every job whose period is unclaimed, and exit")
        parser.add_argument("--tick", type=float, default=None,
                            help="seconds between looks (default: 5, or the shortest job period when shorter, so a "
                                 "job every 2 s, like journeys' tick, is enqueued on time)")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = f"{socket.gethostname()}:{os.getpid()}"
        seen: dict[str, int] = {}
        names = ", ".join(job.name for job in periodic_jobs())
        self.stdout.write(f"scheduler {owner}: {names or 'no jobs registered'}")
        pruned_at = 0.0
        tick = options["tick"] or min([5.0, *(float(job.every_s) for job in periodic_jobs())])
        while True:
            wall = time.time()
            run_due(seen, wall, owner)
            if wall - pruned_at >= PRUNE_EVERY_S:
                forget_claims_before(wall - KEEP_CLAIMS_S)
                pruned_at = wall
            if options["once"]:
                return
            time.sleep(tick)
