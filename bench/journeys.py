"""Journeys on one worker: N customers enter a 5-step journey (tag, wait 1 min, tag, wait 1 min, exit) from events
arriving in waves, and the worker loop (the scan, then due timers in claimed batches) runs it to the end.

    siyu bench journeys --customers 100000
    python bench/journeys.py --customers 2000 [--wave 2000] [--database-url postgres://.../siyu_bench_journeys]

Figures: steps_per_s (step rows written per second the worker was busy), trigger_latency_p95_s (an event's write
to its customer's first step, measured at the end of the worker pass that ran it: an upper bound), timer_lateness_p95_s
(a wait's step run time minus its timer's due time), bare_steps_per_s (a loop that only writes the same step rows, one
transaction per customer, in the same run), steps_vs_bare (steps_per_s / bare_steps_per_s).
Targets (TARGETS.md / issue 20): trigger p95 < 5 s; >= 2,000 steps/s on one worker.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_database, peak_rss_mb, report, setup_django  # noqa: E402

CODE = "journeybench"
WAIT_MINUTES = 1  # the shortest wait a journey allows: the run lasts at least two minutes


def _p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _world(customers: int) -> tuple[int, list[int], dict[str, Any]]:
    from django.utils import timezone

    from siyu.customers import services as customer_services
    from siyu.customers.models import Customer
    from siyu.org.models import Enterprise

    ent = Enterprise.objects.create(name="Journey bench", code=CODE)
    now = timezone.now()
    Customer.objects.bulk_create([Customer(enterprise=ent, name=f"c{i}", created_at=now) for i in range(customers)],
                                 batch_size=5000)
    ids = list(Customer.objects.filter(enterprise=ent).order_by("id").values_list("id", flat=True))
    group = customer_services.create_tag_group(enterprise_id=ent.pk, name="bench")
    first, second = (customer_services.create_tag(group=group, name=n) for n in ("entered", "day 1"))
    definition = {
        "entry": {"kind": "event", "event": "wecom_contact_added"},
        "nodes": [
            {"id": "tag1", "kind": "action", "action": "add_tag", "tag_id": first.pk},
            {"id": "wait1", "kind": "wait", "minutes": WAIT_MINUTES, "quiet_hours": False},
            {"id": "tag2", "kind": "action", "action": "add_tag", "tag_id": second.pk},
            {"id": "wait2", "kind": "wait", "minutes": WAIT_MINUTES, "quiet_hours": False},
            {"id": "done", "kind": "exit"},
        ],
    }
    return ent.pk, ids, definition


def _events(enterprise_id: int, ids: list[int]) -> float:
    from django.utils import timezone

    from siyu.customers import services as customer_services

    moment = timezone.now()
    batch = [customer_services.EventInput(name="wecom_contact_added", occurred_at=moment, customer_id=cid,
                                          idempotency_key=f"bench:{cid}", properties={"state": ""}) for cid in ids]
    for start in range(0, len(batch), 5000):
        customer_services.append_events(enterprise_id=enterprise_id, batch=batch[start:start + 5000])
    return time.time()


def _worker_pass(enterprise_id: int) -> int:
    """What `automation.tick` does, with the clock read per claimed batch (so a step's time is when it ran)."""
    from django.utils import timezone

    from siyu.automation import services

    services.scan(enterprise_id=enterprise_id, now=timezone.now())
    worked = 0
    while True:
        done = services.process_due(now=timezone.now(), rounds=1)
        worked += done
        if not done:
            return worked


def _bare(enterprise_id: int, sample: int) -> float:
    """Only the step rows: 5 per customer, one transaction per customer, as the runner writes them."""
    from django.db import transaction
    from django.utils import timezone

    from siyu.automation.models import Enrollment, Step

    rows = list(Enrollment.objects.filter(enterprise_id=enterprise_id).values_list("id", "journey_id")[:sample])
    started = time.perf_counter()
    for eid, jid in rows:
        with transaction.atomic():
            for node in ("b1", "b2", "b3", "b4", "b5"):
                Step.objects.create(enterprise_id=enterprise_id, enrollment_id=eid, journey_id_copy=jid, node=node,
                                    kind="action", outcome="done", key=f"bare:{eid}:{node}", at=timezone.now())
    elapsed = time.perf_counter() - started
    Step.objects.filter(enterprise_id=enterprise_id, key__startswith="bare:").delete()
    return 5 * len(rows) / elapsed if elapsed else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--wave", type=int, default=2_000, help="events written per worker pass (the arrival rate)")
    parser.add_argument("--bare-sample", type=int, default=5_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh var/bench/journeys.sqlite3")
    args = parser.parse_args(argv)
    url = fresh_database("journeys", args.database_url)
    setup_django()
    from siyu.automation import services
    from siyu.automation.models import Enrollment, Step, Timer
    from siyu.customers.models import Event
    from siyu.org.scope import Scope

    enterprise_id, ids, definition = _world(args.customers)
    scope = Scope.hq(enterprise_id)
    journey = services.create_journey(scope=scope, name="bench", definition=definition)
    services.set_status(scope=scope, journey_id=journey.pk, status="live")
    print(f"{len(ids):,} customers, waves of {args.wave:,} events", flush=True)

    latencies: list[float] = []
    busy = 0.0
    for start in range(0, len(ids), args.wave):
        wave = ids[start:start + args.wave]
        written = _events(enterprise_id, wave)
        began = time.perf_counter()
        _worker_pass(enterprise_id)
        busy += time.perf_counter() - began
        ended = time.time()
        entered = Step.objects.filter(enrollment__customer_id__in=wave, node="tag1").count()
        latencies += [ended - written] * entered
        if start // args.wave % 10 == 0:
            print(f"  entered {start + len(wave):,}: wave latency {ended - written:.2f} s", flush=True)
    # the waits: the worker keeps passing until every enrollment has ended
    while Enrollment.objects.filter(journey=journey, status="active").exists():
        began = time.perf_counter()
        worked = _worker_pass(enterprise_id)
        if worked:  # an idle pass (nothing due yet) is not work
            busy += time.perf_counter() - began
        else:
            time.sleep(0.2)
    steps = Step.objects.filter(journey_id_copy=journey.pk).count()
    due = {(e, n): d for e, n, d in Timer.objects.filter(enrollment__journey=journey, kind="step").values_list(
        "enrollment_id", "node", "due_at")}
    lateness = [(at - due[(e, n)]).total_seconds() for e, n, at in Step.objects.filter(
        journey_id_copy=journey.pk, node__in=["wait1", "wait2"]).values_list("enrollment_id", "node", "at")
        if (e, n) in due]
    bare = _bare(enterprise_id, min(args.bare_sample, len(ids)))
    steps_per_s = steps / busy if busy else float("nan")
    figures = {"customers": float(len(ids)), "steps": float(steps), "busy_s": busy, "steps_per_s": steps_per_s,
               "trigger_latency_p95_s": _p95(latencies), "timer_lateness_p95_s": _p95(lateness),
               "bare_steps_per_s": bare, "peak_mb": peak_rss_mb(),
               "events": float(Event.objects.filter(enterprise_id=enterprise_id).count())}
    ratios = {"steps_vs_bare": steps_per_s / bare if bare else float("nan")}
    rows = [("database", url.split("?")[0]), ("customers", f"{len(ids):,} (waves of {args.wave:,})"),
            ("steps", f"{steps:,} in {busy:.1f} s busy: {steps_per_s:,.0f} steps/s"),
            ("trigger latency p95", f"{figures['trigger_latency_p95_s']:.2f} s (target < 5 s)"),
            ("timer lateness p95", f"{figures['timer_lateness_p95_s']:.2f} s"),
            ("bare step rows", f"{bare:,.0f} rows/s (ratio {ratios['steps_vs_bare']:.2f})"),
            ("peak memory", f"{figures['peak_mb']:,.0f} MiB")]
    report("journeys", rows, figures, ratios)


if __name__ == "__main__":
    main()
