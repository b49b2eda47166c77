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


def test_a_size_the_disk_cannot_hold_is_refused_before_any_work(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import shutil
    from collections import namedtuple

    from bench import common

    usage = namedtuple("usage", "total used free")
    # Tier B by the measured footprints: 200M events * (274 + 45) bytes + 10M customers * 1,400 bytes = 77.8 GB.
    assert common.disk_needed(10_000_000, 200_000_000, copy=True) == 200_000_000 * 319 + 10_000_000 * 1_400
    # Once the sort files are gone the copy takes their place, never both.
    assert common.disk_needed(1_000, 20_000, copy=False) == 20_000 * 319 + 1_000 * 1_400
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(252e9, 187e9, 65e9))
    with pytest.raises(SystemExit, match="needs about 77.8 GB.*65.0 GB free"):
        common.check_disk(10_000_000, 200_000_000, copy=True)
    common.check_disk(10_000_000, 200_000_000, copy=True, force=True)  # --force: said, then let through
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(252e9, 20e9, 80e9))
    common.check_disk(10_000_000, 200_000_000, copy=True)
    assert "77.8 GB at its peak; 80.0 GB free" in capsys.readouterr().out
