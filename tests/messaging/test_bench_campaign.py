"""`siyu bench campaign` at a tiny size: the figures the issue asks for are printed, and they agree with each other
and with the table above them (every customer planned once; the waterfall adds up; every SMS the bench counts as
sent arrived once at the simulator). It runs on the suite's engine: a fresh SQLite file in the SQLite pass, a
database of its own (siyu_bench_campaign_test) in the PostgreSQL pass. Wall time is never asserted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.db import connection

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS, DELIVER = 400, 60


def _database_url(tmp_path: Path) -> str:
    if connection.vendor == "postgresql":
        suite = urlparse(os.environ["SIYU_DATABASE_URL"])
        return suite._replace(path="/siyu_bench_campaign_test").geturl()
    return f"sqlite:///{tmp_path / 'campaign.sqlite3'}"


def _count(lines: list[str], label: str) -> int:
    found = [line for line in lines if line.strip().startswith(label)]
    assert found, label
    return int(re.sub(r"[^0-9]", "", found[0].strip()[len(label):].split()[0]))


def test_a_tiny_campaign_bench_prints_consistent_figures(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "campaign.py"), "--customers", str(CUSTOMERS), "--deliver",
         str(DELIVER), "--database-url", _database_url(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "SIYU_VAR_DIR": str(tmp_path / "var")},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    figures, ratios = result["figures"], result["ratios"]
    assert result["bench"] == "campaign"
    assert {"plan_s", "bare_insert_s", "planned_rows", "deliveries_per_s", "delivered_rows", "sms_received",
            "peak_mb"} <= set(figures)
    assert set(ratios) == {"plan_s_vs_bare_insert"}
    # every customer of the generated enterprise has exactly one row in the plan
    assert figures["planned_rows"] == CUSTOMERS
    assert figures["plan_s"] > 0 and figures["bare_insert_s"] > 0 and figures["peak_mb"] > 0
    # the figures are printed to 3 decimals (bench.common.report) and the ratio from the unrounded seconds: at this size
    # the bare INSERT takes a few milliseconds, so the ratio lies anywhere the rounding of the two figures allows
    half = 0.0005
    low = (figures["plan_s"] - half) / (figures["bare_insert_s"] + half)
    high = (figures["plan_s"] + half) / max(figures["bare_insert_s"] - half, 1e-9)
    assert low - 0.0005 <= ratios["plan_s_vs_bare_insert"] <= high + 0.0005
    # the waterfall in the table adds up to the audience, and every rule the bench arranged excluded someone
    # (at 400 customers: ids divisible by 97 are on the DND list, by 53 withdrew every channel, by 31 / 41 are capped)
    table = [line for line in lines if line.startswith("    ")]
    parts = sum(_count(table, label) for label in [line.strip().rsplit(" ", 1)[0].strip() for line in table
                                                   if line.strip().startswith(("by ", "holdout", "excluded:"))])
    assert parts == CUSTOMERS
    for reason in ("dnd", "opted_out", "daily_cap", "weekly_cap"):
        assert _count(table, f"excluded: {reason}") > 0, reason
    # deliveries: settled rows within the asked number; the simulator got each SMS the bench counts as sent, once
    assert 0 < figures["delivered_rows"] <= DELIVER
    assert figures["deliveries_per_s"] > 0
    assert figures["sms_received"] == figures["sms_sent_rows"]
