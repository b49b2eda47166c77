"""Under CI a missing PostgreSQL or Chromium fails the run; elsewhere it is skipped and named loudly at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import proof

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("env", "ci"), [
    ({"CI": "true"}, True), ({"CI": "1"}, True), ({"CI": "TRUE"}, True),
    ({}, False), ({"CI": ""}, False), ({"CI": "false"}, False), ({"CI": "0"}, False),
])
def test_ci_is_recognised(env: dict[str, str], ci: bool) -> None:
    assert proof.under_ci(env) is ci


@pytest.mark.parametrize("what", [proof.POSTGRES, proof.CHROMIUM])
def test_missing_under_ci_fails_and_elsewhere_skips(what: str) -> None:
    assert proof.missing(what, {"CI": "true"}).action == "fail"
    assert proof.missing(what, {}).action == "skip"


def test_require_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Chromium"):
        proof.require(proof.CHROMIUM, available=False, detail="/nowhere/chromium")
    proof.require(proof.CHROMIUM, available=True)  # present: nothing happens


def test_require_skips_loudly_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(proof, "SKIPPED", [])
    with pytest.raises(pytest.skip.Exception):
        proof.require(proof.CHROMIUM, available=False, detail="/nowhere/chromium")
    lines = proof.summary_lines({}, postgres_tests=0)
    assert any("SKIPPED PROOF" in line and "Chromium" in line for line in lines)


def test_the_summary_names_the_postgres_tests_left_unrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proof, "SKIPPED", [])
    assert proof.summary_lines({}, postgres_tests=7) == []  # PostgreSQL runs next: these skips are expected
    lines = proof.summary_lines({proof.POSTGRES_UNAVAILABLE_ENV: "1"}, postgres_tests=7)
    assert any("PostgreSQL" in line and "7 tests" in line for line in lines)


def _proof_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run([sys.executable, "-m", "tests.proof", "postgres", "unreachable"], cwd=ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False)


def test_an_unreachable_postgres_fails_the_script_under_ci() -> None:
    result = _proof_cli({"CI": "true"})
    assert result.returncode == 1
    assert "PostgreSQL" in result.stderr and "cannot be skipped" in result.stderr


def test_an_unreachable_postgres_is_announced_elsewhere() -> None:
    result = _proof_cli({})
    assert result.returncode == 0
    assert "SKIPPED PROOF: PostgreSQL" in result.stdout


def test_the_test_script_asks_the_decision() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "python -m tests.proof postgres" in script.replace("$BIN/", "")
    assert "skipped the PostgreSQL run" not in script  # the old silent skip
