"""`bench/journeys.py` at a tiny size runs its journey to the end and prints its figures (one JSON line last)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_journeys_bench_runs_and_prints_its_figures(tmp_path: Path) -> None:
    if os.environ.get("SIYU_DATABASE_URL", "").startswith("postgres"):
        # the bench runs on a SQLite file of its own either way; its two one-minute waits are paid in one pass only
        pytest.skip("runs once, in the SQLite pass (its own SQLite file either way)")
    env = {**os.environ, "SIYU_VAR_DIR": str(tmp_path), "CI": "true"}
    url = f"sqlite:///{tmp_path / 'journeys.sqlite3'}"
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "journeys.py"), "--customers", "6", "--wave", "3",
                          "--bare-sample", "6", "--database-url", url], env=env, capture_output=True, text=True,
                         timeout=600, check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["bench"] == "journeys"
    assert figures["figures"]["steps"] == 6 * 5  # five steps each: tag, wait, tag, wait, exit
    for name in ("steps_per_s", "trigger_latency_p95_s", "timer_lateness_p95_s", "bare_steps_per_s"):
        assert figures["figures"][name] >= 0
    assert figures["ratios"]["steps_vs_bare"] > 0
