#!/usr/bin/env bash
# The whole suite: lint, types, import boundaries, migrations check, then pytest on SQLite (browser tests included)
# and on PostgreSQL (started here if it is installed but stopped) at the same time, one process each, so the two
# passes use both cores (docs/testing.md has the measurements). Browser tests run in Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff";        $BIN/ruff check siyu simulator tests bench
echo "== mypy";        $BIN/mypy siyu simulator tests bench
echo "== import-linter"; $BIN/lint-imports --no-cache
echo "== migrations";  SIYU_DATABASE_URL="sqlite:///:memory:" $BIN/python -m siyu.manage makemigrations --check --dry-run

bash scripts/ensure-browser.sh || echo "warning: chromium could not be installed; browser tests will fail under CI, skip (loudly) elsewhere"

# PostgreSQL proves the race tests: under CI=true an unreachable one fails the run here; elsewhere it is announced
# now, at the end of the SQLite run (pytest's summary) and again at the very end.
if bash scripts/ensure-services.sh postgres; then PG=reachable; else PG=unreachable; fi
$BIN/python -m tests.proof postgres "$PG"
if [ "$PG" = unreachable ]; then export SIYU_POSTGRES_UNAVAILABLE=1; fi

# Each pass has its own var/ (media, exports, the analytics copy), its own database and its own log; nothing else is
# shared between them (servers the tests start take a free port, pytest's cache is off). SIYU_TEST_POSTGRES_URL lets
# two checkouts on one machine test against different databases (PostgreSQL's test database is test_<name>).
LOGS=var/test-logs
rm -rf "$LOGS" var/test-sqlite var/test-postgres
mkdir -p "$LOGS" var/test-sqlite var/test-postgres
PG_URL="${SIYU_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/siyu}"
# The slowest tests of every run, to keep the budget honest (SIYU_TEST_DURATIONS=80 for a profile).
DURATIONS=(--durations="${SIYU_TEST_DURATIONS:-15}" --durations-min=2)

PASSES=("pytest (SQLite)" sqlite.log
  env SIYU_VAR_DIR="$(pwd)/var/test-sqlite" SIYU_DATABASE_URL="sqlite:///$(pwd)/var/test-sqlite/test.sqlite3"
  $BIN/pytest "${DURATIONS[@]}")
if [ "$PG" = reachable ]; then
  PASSES+=(:: "pytest (PostgreSQL)" postgres.log
    env SIYU_VAR_DIR="$(pwd)/var/test-postgres" SIYU_DATABASE_URL="$PG_URL" $BIN/pytest -m "not browser" "${DURATIONS[@]}")
fi
rc=0
bash scripts/run-passes.sh "$LOGS" "${PASSES[@]}" || rc=$?
if [ "$PG" = unreachable ]; then $BIN/python -m tests.proof postgres "$PG"; fi
exit $rc
