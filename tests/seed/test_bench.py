"""The benchmark plumbing: `siyu bench NAME` finds bench/NAME.py, and every report ends with one JSON line."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from bench.common import report
from siyu.core.management.commands.bench import available


def test_bench_lists_the_benchmarks_in_the_bench_folder() -> None:
    assert {"ingest", "seed"} <= set(available())
    assert "common" not in available()


def test_unknown_benchmark_is_refused_with_the_list() -> None:
    with pytest.raises(CommandError, match="available: .*ingest"):
        call_command("bench", "no-such-bench")


def test_report_ends_with_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    report("demo", [("rate", "10 rows/s")], {"rate_per_s": 10.0, "time_s": 1.23456}, {"rate_per_s_vs_base": 0.5})
    lines = capsys.readouterr().out.strip().splitlines()
    assert "rate" in lines[1] and "10 rows/s" in lines[1]
    assert json.loads(lines[-1]) == {
        "bench": "demo", "figures": {"rate_per_s": 10.0, "time_s": 1.235}, "ratios": {"rate_per_s_vs_base": 0.5}
    }
