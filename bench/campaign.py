"""Planning a campaign to every customer of a generated enterprise, then delivering part of it through the simulator.

    siyu bench campaign --customers 1000000
    python bench/campaign.py --customers 20000 [--database-url postgres://.../siyu_bench_campaign] [--reuse]

The enterprise comes from the demo generator (`siyu seed`, run as a child process so this process's peak memory is
the planner's and the sender's, not the generator's). Before the plan, set-based statements give every planning rule
work to do (the share of customers each touches is in the table):
- the contact budget: 2 a day, 3 in a rolling week, 1 a day on WeCom, quiet hours 21:00-09:00 Asia/Shanghai,
  a 3-day recent-purchase suppression and open after-sales suppressed;
- an earlier campaign planned today on WeCom (1 in 10 customers: their WeCom room is used up, they fall through to
  the next channel), old deliveries that fill the daily cap (1 in 31) and the weekly cap (1 in 41);
- the do-not-disturb list (1 in 97), customers who withdrew every channel (1 in 53), SMS consent for 2 in 3.
The campaign (WeCom, then the Official Account, then SMS; variants A/B and a 10% holdout) targets a static segment
holding every customer, and is planned by `messaging.services.plan_campaign`: that call is `plan_s`.

Baseline, in the same run: one INSERT ... SELECT that writes the same number of delivery rows with constant values
(no rule evaluated), rolled back: `bare_insert_s`. Ratio `plan_s_vs_bare_insert` = plan_s / bare_insert_s (lower is
better; it is what the rules cost on top of writing the rows).

Delivery: the campaign is launched and the worker's own functions (claim_batch + send_batch) send the first
`--deliver` due rows; SMS go over HTTP to the simulator's SMS provider (in this process, on a free port), the Official
Account and WeCom rows become those channels' keyed outbox rows. `deliveries_per_s` = rows settled / seconds; the
simulator's inbox is counted to show the SMS arrived once each.

Figures: plan_s, bare_insert_s, planned_rows, deliveries_per_s, delivered_rows, sms_received, peak_mb.
Target (TARGETS.md): planning < 5 s at tier A (1,000,000 customers), < 60 s at tier B.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BENCH_DIR, ROOT, fresh_database, report, setup_django  # noqa: E402

CODE = "campbench"
CHANNELS = ["wecom", "official_account", "sms"]
# Every nth customer (by id) a rule touches; primes, so the groups overlap a little, as they would
EARLIER, DAILY, WEEKLY, DND, OPTED_OUT, NO_SMS = 10, 31, 41, 97, 53, 3


def own_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _database(args: argparse.Namespace) -> str:
    url: str | None = args.database_url
    if not args.reuse:
        return fresh_database("campaign", url)
    url = url or f"sqlite:///{BENCH_DIR / 'campaign.sqlite3'}"
    os.environ["SIYU_DATABASE_URL"] = url
    return url


def _seed(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "siyu.manage", "seed", "--customers", str(args.customers), "--events",
         str(args.events), "--seed", str(args.seed), "--enterprise", CODE, "--name", "活动压测"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "siyu.settings"}, check=False)
    if done.returncode:
        raise SystemExit("seeding failed")
    print(f"seeded {args.customers:,} customers in {time.perf_counter() - started:.0f}s", flush=True)


def _execute(sql: str, params: list[Any]) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _accounts(enterprise_id: int) -> tuple[int, int]:
    from siyu.channels.models import AccountKind, ChannelAccount
    from siyu.seed.org import DEMO_OA_APP_ID, DEMO_WECOM_CORP_ID

    found = []
    for kind, app_id in ((AccountKind.WECOM, DEMO_WECOM_CORP_ID), (AccountKind.OFFICIAL_ACCOUNT, DEMO_OA_APP_ID)):
        # the generator's identities name these app ids; the OA account row is made here when no step made it
        account = ChannelAccount.objects.filter(enterprise_id=enterprise_id, kind=kind).order_by("pk").first()
        if account is None:
            account = ChannelAccount.objects.create(enterprise_id=enterprise_id, kind=kind, name=kind, app_id=app_id,
                                                    callback_token="t", base_url="http://127.0.0.1:1/")  # noqa: S106
        found.append(account.pk)
    return found[0], found[1]


def _everyone_segment(enterprise_id: int, now: datetime) -> int:
    """A static segment of every customer, its membership written by one INSERT ... SELECT."""
    from django.db import connection

    from siyu.audiences.models import Segment, SegmentMembership
    from siyu.customers.models import Customer

    segment, _created = Segment.objects.get_or_create(enterprise_id=enterprise_id, name="全体顾客 (bench)",
                                                      defaults={"kind": "static", "rule": {}})
    SegmentMembership.objects.filter(segment=segment).delete()
    ops = connection.ops
    count = _execute(
        f"INSERT INTO {SegmentMembership._meta.db_table} (segment_id, customer_id, entered_at) "  # noqa: S608
        f"SELECT %s, id, %s FROM {Customer._meta.db_table} WHERE enterprise_id = %s",
        [segment.pk, ops.adapt_datetimefield_value(now), enterprise_id])
    Segment.objects.filter(pk=segment.pk).update(member_count=count, snapshot_at=now, built_at=now)
    return int(segment.pk)


def _old_campaign(enterprise_id: int, name: str) -> int:
    from siyu.messaging.models import Campaign

    return int(Campaign.objects.create(enterprise_id=enterprise_id, name=name, audience_kind="list",
                                       channels=["sms"], content={"sms": "x"}, status="done").pk)


def _old_contacts(enterprise_id: int, due: datetime, now: datetime) -> None:
    """Deliveries other campaigns already sent: two on the plan's day for 1 in DAILY (the daily cap of 2), three in
    the rolling week before it for 1 in WEEKLY (the weekly cap of 3)."""
    from django.db import connection

    from siyu.customers.models import Customer
    from siyu.messaging.models import Delivery

    ops = connection.ops
    moments = [(due, due - timedelta(days=2)), (due, due - timedelta(days=4)), (None, due - timedelta(days=5))]
    for index, (daily, weekly) in enumerate(moments):
        campaign_id = _old_campaign(enterprise_id, f"bench earlier contacts {index + 1}")
        when = (f"CASE WHEN id %% {DAILY} = 0 THEN %s ELSE %s END" if daily else "%s")
        where = f"(id %% {DAILY} = 0 OR id %% {WEEKLY} = 0)" if daily else f"id %% {WEEKLY} = 0"
        params = [ops.adapt_datetimefield_value(daily)] if daily else []
        params += [ops.adapt_datetimefield_value(weekly)]
        _execute(
            f"INSERT INTO {Delivery._meta.db_table} (campaign_id, enterprise_id, customer_id, \"key\", channel, "  # noqa: S608
            "variant, holdout, bucket, status, reason, target, due_at, sent_at, attempts, claim, provider_ref, "
            "error, coupon_code, created_at) "
            f"SELECT {campaign_id}, enterprise_id, id, 'campaign:{campaign_id}:customer:' || CAST(id AS VARCHAR(20)), "
            f"'sms', '', %s, 0, 'sent', '', '', {when}, {when}, 1, '', '', '', '', %s "
            f"FROM {Customer._meta.db_table} WHERE enterprise_id = %s AND {where}",
            [False, *params, *params, ops.adapt_datetimefield_value(now), enterprise_id])


def _consents(enterprise_id: int, now: datetime) -> None:
    from django.db import connection

    from siyu.customers.models import Consent, Customer

    Consent.objects.filter(enterprise_id=enterprise_id, text="bench").delete()
    at = connection.ops.adapt_datetimefield_value(now - timedelta(days=1))
    table, customers = Consent._meta.db_table, Customer._meta.db_table
    cols = ("enterprise_id, customer_id, channel, granted, method, text, text_version, evidence, recorded_at, "
            "idempotency_key")
    _execute(f"INSERT INTO {table} ({cols}) SELECT enterprise_id, id, 'sms', %s, 'form', 'bench', '', '{{}}', %s, '' "  # noqa: S608
             f"FROM {customers} WHERE enterprise_id = %s AND id %% {NO_SMS} <> 0", [True, at, enterprise_id])
    later = connection.ops.adapt_datetimefield_value(now - timedelta(hours=1))
    for channel in CHANNELS:
        _execute(f"INSERT INTO {table} ({cols}) SELECT enterprise_id, id, %s, %s, 'form', 'bench', '', '{{}}', %s, '' "  # noqa: S608
                 f"FROM {customers} WHERE enterprise_id = %s AND id %% {OPTED_OUT} = 0",
                 [channel, False, later, enterprise_id])


def _dnd(enterprise_id: int, now: datetime) -> None:
    from django.db import connection

    from siyu.customers.models import Customer
    from siyu.messaging.models import DoNotDisturb

    DoNotDisturb.objects.filter(enterprise_id=enterprise_id).delete()
    _execute(f"INSERT INTO {DoNotDisturb._meta.db_table} (enterprise_id, customer_id, reason, created_at) "  # noqa: S608
             f"SELECT enterprise_id, id, 'bench', %s FROM {Customer._meta.db_table} "
             f"WHERE enterprise_id = %s AND id %% {DND} = 0",
             [connection.ops.adapt_datetimefield_value(now), enterprise_id])


def _policy(scope: Any) -> Any:
    from siyu.messaging import services

    return services.set_policy(scope=scope, values={
        "max_per_day": 2, "max_per_week": 3, "channel_caps": {"wecom": 1}, "quiet_start_hour": 21,
        "quiet_end_hour": 9, "recent_purchase_days": 3, "suppress_open_after_sale": True, "wecom_monthly_limit": 4})


def _campaign(scope: Any, name: str, segment_id: int, channels: list[str], accounts: tuple[int, int],
              **extra: Any) -> int:
    from siyu.messaging import services

    texts = {"wecom": "我是{staff_name}，{store}冬季上新", "official_account": "{name}您好，冬季上新",
             "sms": "{name}，{store}冬季上新，回TD退订"}
    data = services.CampaignInput(
        name=name, audience_kind="segment", segment_id=segment_id, channels=channels,
        content={c: texts[c] for c in channels}, wecom_account_id=accounts[0], oa_account_id=accounts[1],
        oa_template_id="TPL_BENCH", sms_sign="思域", **extra)
    return int(services.create_campaign(scope=scope, data=data).pk)


def _bare_insert(enterprise_id: int, campaign_id: int, now: datetime) -> float:
    """The floor: the same number of delivery rows written by one INSERT ... SELECT with constants, rolled back."""
    from django.db import connection, transaction

    from siyu.customers.models import Customer
    from siyu.messaging.models import Delivery

    ops = connection.ops
    at = ops.adapt_datetimefield_value(now)
    started = time.perf_counter()
    with transaction.atomic():
        _execute(
            f"INSERT INTO {Delivery._meta.db_table} (campaign_id, enterprise_id, customer_id, \"key\", channel, "  # noqa: S608
            "variant, holdout, bucket, status, reason, target, due_at, attempts, claim, provider_ref, error, "
            "coupon_code, created_at) "
            f"SELECT {campaign_id}, enterprise_id, id, 'campaign:{campaign_id}:customer:' || CAST(id AS VARCHAR(20)), "
            "'sms', 'A', %s, 0, 'planned', '', '', %s, 0, '', '', '', '', %s "
            f"FROM {Customer._meta.db_table} WHERE enterprise_id = %s",
            [False, at, at, enterprise_id])
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def _deliver(limit: int, due: datetime) -> tuple[int, float]:
    from siyu.core.timeutil import now
    from siyu.messaging import services

    settled, started = 0, time.perf_counter()
    while settled < limit:
        moment = max(now(), due)  # past the quiet hours, as the worker will be when the rows fall due
        token = services.claim_batch(limit=min(services.BATCH, limit - settled), moment=moment)
        done = services.send_batch(token)
        if done == 0:
            break
        settled += done
    return settled, time.perf_counter() - started


def _prepare(enterprise_id: int, scope: Any, accounts: tuple[int, int]) -> tuple[int, datetime]:
    """Every rule's data; returns the everyone segment and the plan's due time."""
    from siyu.audiences.models import Segment, SegmentMembership
    from siyu.core.timeutil import now
    from siyu.messaging import planning, services
    from siyu.messaging.models import Campaign

    moment = now()
    Campaign.objects.filter(enterprise_id=enterprise_id).delete()
    policy = _policy(scope)
    due = planning.due_time(moment, policy)
    segment_id = _everyone_segment(enterprise_id, moment)
    _consents(enterprise_id, moment)
    _dnd(enterprise_id, moment)
    _old_contacts(enterprise_id, due, moment)
    earlier_seg, _created = Segment.objects.get_or_create(enterprise_id=enterprise_id, name="earlier (bench)",
                                                          defaults={"kind": "static", "rule": {}})
    SegmentMembership.objects.filter(segment=earlier_seg).delete()
    _execute(f"INSERT INTO {SegmentMembership._meta.db_table} (segment_id, customer_id, entered_at) "  # noqa: S608
             f"SELECT %s, customer_id, entered_at FROM {SegmentMembership._meta.db_table} "
             f"WHERE segment_id = %s AND customer_id %% {EARLIER} = 0", [earlier_seg.pk, segment_id])
    earlier = _campaign(scope, "更早的活动", int(earlier_seg.pk), ["wecom"], accounts)
    services.plan_campaign(scope=scope, campaign_id=earlier)
    return segment_id, due


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=None, help="default: 2 per customer (planning reads none)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deliver", type=int, default=1_000, help="deliveries to send through the simulator")
    parser.add_argument("--database-url", default=None, help="default: a fresh var/bench/campaign.sqlite3")
    parser.add_argument("--reuse", action="store_true", help="keep the database a previous run seeded")
    args = parser.parse_args(argv)
    args.events = 2 * args.customers if args.events is None else args.events
    url = _database(args)
    setup_django()
    from django.conf import settings
    from django.db.models import Count

    from simulator.server import SimulatorServer
    from simulator.state import reset
    from siyu.core.timeutil import now
    from siyu.messaging import services
    from siyu.messaging.models import Delivery
    from siyu.org.models import Enterprise
    from siyu.org.scope import Scope

    if not Enterprise.objects.filter(code=CODE).exists():
        _seed(args)
    enterprise_id = Enterprise.objects.get(code=CODE).pk
    scope = Scope.hq(enterprise_id)
    accounts = _accounts(enterprise_id)
    segment_id, due = _prepare(enterprise_id, scope, accounts)
    main_id = _campaign(scope, "冬季上新 (bench)", segment_id, CHANNELS, accounts,
                        variants=[{"name": "A"}, {"name": "B"}], holdout_pct=10)
    bare_s = _bare_insert(enterprise_id, main_id, now())
    started = time.perf_counter()
    campaign = services.plan_campaign(scope=scope, campaign_id=main_id)
    plan_s = time.perf_counter() - started
    plan = campaign.plan
    planned = int(plan["audience"])
    rows: list[tuple[str, str]] = [("database", url.split("?")[0]), ("customers planned", f"{planned:,}"),
                                   ("due at", due.isoformat())]
    rows += [(f"  by {channel}", f"{n:,}") for channel, n in sorted(plan["channels"].items())]
    rows += [("  holdout", f"{plan['holdout']:,}")]
    rows += [(f"  excluded: {reason}", f"{n:,}") for reason, n in sorted(plan["excluded"].items())]
    rows += [("plan", f"{plan_s:.3f} s"), ("bare INSERT of the rows", f"{bare_s:.3f} s"),
             ("plan / bare", f"{plan_s / bare_s:.1f}x")]
    print(f"planned {planned:,} in {plan_s:.2f} s (bare insert {bare_s:.2f} s)", flush=True)

    state = reset()
    with SimulatorServer(port=0, simulator=state) as server:
        settings.SIYU_SMS_BASE_URL = server.base_url + "/sms"
        services.launch_campaign(scope=scope, campaign_id=main_id)
        delivered, deliver_s = _deliver(args.deliver, due)
        with state.sms.lock:
            received = sum(len(texts) for texts in state.sms.inbox.values())
    by_status = dict(Delivery.objects.filter(campaign_id=main_id, status__in=services.SENT_STATES)
                     .values_list("channel").annotate(n=Count("id")).values_list("channel", "n"))
    rate = delivered / deliver_s if deliver_s else 0.0
    rows += [("delivered (settled)", f"{delivered:,} in {deliver_s:.2f} s, {rate:,.0f}/s"),
             ("  sent by channel", ", ".join(f"{c} {n:,}" for c, n in sorted(by_status.items()))),
             ("  SMS received by the simulator", f"{received:,}"),
             ("peak memory (this process)", f"{own_peak_mb():,.0f} MiB")]
    report("campaign", rows, {
        "plan_s": plan_s, "bare_insert_s": bare_s, "planned_rows": planned, "deliveries_per_s": rate,
        "delivered_rows": delivered, "sms_sent_rows": by_status.get("sms", 0), "sms_received": received,
        "peak_mb": own_peak_mb()}, {"plan_s_vs_bare_insert": plan_s / bare_s if bare_s else 0.0})


if __name__ == "__main__":
    main()
