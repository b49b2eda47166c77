"""`siyu bench load` at a small size: every target answered 2xx (the benchmark exits non-zero on any failed
request), the callbacks it built were stored once each, and the report has every figure and ratio. It runs on the
suite's engine: a fresh SQLite file in the SQLite pass, a database of its own (siyu_bench_load_test) in the
PostgreSQL pass. Wall time is never asserted: the machine may be busy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.db import connection

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["baseline", "catalog", "product", "order", "callback", "customers", "profile", "dashboard"]


def _database_url(tmp_path: Path) -> str:
    if connection.vendor == "postgresql":
        suite = urlparse(os.environ["SIYU_DATABASE_URL"])
        return suite._replace(path="/siyu_bench_load_test").geturl()
    return f"sqlite:///{tmp_path / 'load.sqlite3'}"


def test_a_small_load_run_reports_every_target_against_the_baseline(tmp_path: Path) -> None:
    url = _database_url(tmp_path)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py"), "--seconds", "2", "--users", "2", "--customers", "300",
         "--callbacks", "1000", "--server-workers", "1", "--database-url", url, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "SIYU_VAR_DIR": str(tmp_path / "var")},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result["bench"] == "load"
    assert set(result["figures"]) == {f"{t}_{m}" for t in TARGETS for m in ("requests_per_s", "p50_ms", "p99_ms")}
    assert set(result["ratios"]) == {f"{t}_requests_per_s_vs_baseline" for t in TARGETS if t != "baseline"}
    for target in TARGETS:
        assert result["figures"][f"{target}_requests_per_s"] > 0
        assert result["figures"][f"{target}_p99_ms"] >= result["figures"][f"{target}_p50_ms"] >= 0
        assert result["ratios"].get(f"{target}_requests_per_s_vs_baseline", 1.0) == pytest.approx(
            result["figures"][f"{target}_requests_per_s"] / result["figures"]["baseline_requests_per_s"], rel=0.01)
    # locust's own statistics, target by target: requests answered, none failed (not the expected 2xx)
    for user_class, target in (("Baseline", "baseline"), ("Order", "order"), ("Callback", "callback"),
                               ("Customers", "customers"), ("Dashboard", "dashboard")):
        entries = {e["name"]: e for e in json.loads((out / f"{user_class}.json").read_text(encoding="utf-8"))}
        assert entries[target]["num_requests"] > 0
        assert all(e["num_failures"] == 0 for e in entries.values()), entries
    assert any(line.strip().startswith("callbacks sent / built") for line in lines)
