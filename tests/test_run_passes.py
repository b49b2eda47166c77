"""scripts/run-passes.sh, which `make test` uses to run the SQLite and PostgreSQL passes at the same time: both run at
once, their logs come out in the order given under a header, and the run fails when either pass fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "run-passes.sh"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "logs"), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_both_passes_run_at_once_and_their_logs_come_out_in_order(tmp_path: Path) -> None:
    flag = tmp_path / "second-started"
    # The first pass waits for a file that only the second pass writes: run one after the other, it would time out.
    first = f"for i in $(seq 1 2000); do [ -f {flag} ] && echo first saw second && exit 0; sleep 0.01; done; exit 7"
    second = f"touch {flag}; echo two"
    result = _run(tmp_path, "one", "a.log", "sh", "-c", first, "::", "two", "b.log", "sh", "-c", second)
    assert result.returncode == 0, result.stdout
    out = result.stdout
    assert "== one and two running at the same time" in out
    order = [out.index(text) for text in ("== one: exit 0", "first saw second", "== two: exit 0", "\ntwo\n")]
    assert order == sorted(order)
    assert "FAILED" not in out
    assert (tmp_path / "logs" / "a.log").read_text() == "first saw second\n"


def test_a_failing_pass_fails_the_run_and_its_tail_is_shown_last(tmp_path: Path) -> None:
    failing = "for i in $(seq 1 60); do echo line $i; done; exit 3"
    result = _run(tmp_path, "good", "g.log", "true", "::", "bad", "b.log", "sh", "-c", failing)
    assert result.returncode == 1
    out = result.stdout
    assert "== good: exit 0" in out and "== bad: exit 3" in out
    tail = out[out.index("== FAILED: bad"):]
    assert "line 60" in tail and "line 21" in tail and "line 20\n" not in tail  # the last 40 lines only


def test_the_first_pass_failing_fails_the_run_too(tmp_path: Path) -> None:
    result = _run(tmp_path, "bad", "b.log", "sh", "-c", "printf 'stopped mid-line'; exit 143", "::",
                  "good", "g.log", "true")
    assert result.returncode == 1
    assert "stopped mid-line\n== good: exit 0" in result.stdout  # the next header starts on its own line
    assert "== FAILED: bad" in result.stdout and "== FAILED: good" not in result.stdout


def test_the_test_script_runs_its_passes_through_it() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "scripts/run-passes.sh" in script
    assert 'SIYU_VAR_DIR="$(pwd)/var/test-sqlite"' in script and 'SIYU_VAR_DIR="$(pwd)/var/test-postgres"' in script
