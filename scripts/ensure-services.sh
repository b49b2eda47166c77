#!/usr/bin/env bash
# Checks that the named local services answer, starting the ones that are installed but stopped.
# Usage: scripts/ensure-services.sh postgres [redis] [rabbitmq]; exit 1 when one stays unreachable.
set -u
up() { timeout 2 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }
wait_up() { for _ in $(seq 1 30); do up "$1" && return 0; sleep 1; done; return 1; }
rc=0
for svc in "$@"; do
  case "$svc" in
    postgres)
      up 5432 || { command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >/dev/null 2>&1; }
      wait_up 5432 || rc=1 ;;
    redis)
      up 6379 || { command -v redis-server >/dev/null && redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1; }
      wait_up 6379 || rc=1 ;;
    rabbitmq)
      up 5672 || { command -v rabbitmq-server >/dev/null && rabbitmq-server -detached >/dev/null 2>&1; }
      wait_up 5672 || rc=1 ;;
    *) echo "unknown service $svc"; rc=1 ;;
  esac
done
exit $rc
