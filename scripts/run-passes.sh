#!/usr/bin/env bash
# Runs commands at the same time, each in its own process group with its output in its own log, then prints the logs
# in the order given, each under a header with its exit status and time, and, for a pass that failed, its last 40
# lines again at the very end. Exits 1 when any pass failed. Ctrl-C (or TERM) stops every pass.
# Usage: scripts/run-passes.sh LOGDIR NAME LOG COMMAND... [:: NAME LOG COMMAND...]...
#   e.g. scripts/run-passes.sh var/logs "pytest (SQLite)" sqlite.log pytest :: "lint" lint.log ruff check .
# (used by scripts/test.sh for the SQLite and PostgreSQL passes; tests/test_proof.py checks it)
set -uo pipefail
logdir=$1; shift
mkdir -p "$logdir"

names=(); logs=(); pids=()
stop_passes() { for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done; }
trap 'stop_passes; exit 130' INT TERM

while [ $# -gt 0 ]; do
  name=$1 log=$logdir/$2; shift 2
  cmd=()
  while [ $# -gt 0 ] && [ "$1" != "::" ]; do cmd+=("$1"); shift; done
  [ $# -gt 0 ] && shift  # the ::
  rm -f "$log" "$log.rc"
  set -m  # its own process group, so that stop_passes ends the pass and everything it started
  ( start=$(date +%s); rc=0; "${cmd[@]}" >"$log" 2>&1 </dev/null || rc=$?
    echo "$rc $(( $(date +%s) - start ))" >"$log.rc" ) &
  set +m
  pids+=($!); names+=("$name"); logs+=("$log")
done

echo "== $(IFS=,; echo "${names[*]}" | sed 's/,/ and /g') running at the same time; follow with: tail -f ${logs[*]}"
for pid in "${pids[@]}"; do wait "$pid" || true; done
trap - INT TERM

failed=()
for i in "${!names[@]}"; do
  rc=1 secs="?"
  if [ -s "${logs[$i]}.rc" ]; then read -r rc secs <"${logs[$i]}.rc"; fi
  echo "== ${names[$i]}: exit $rc after ${secs}s"
  cat "${logs[$i]}"
  if [ -n "$(tail -c 1 "${logs[$i]}")" ]; then echo; fi  # a pass that was stopped may end mid-line
  [ "$rc" = 0 ] || failed+=("$i")
done
for i in "${failed[@]}"; do
  echo "== FAILED: ${names[$i]} (whole log above and in ${logs[$i]}); its last 40 lines:"
  tail -n 40 "${logs[$i]}"
done
[ "${#failed[@]}" = 0 ]
