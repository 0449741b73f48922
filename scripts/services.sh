#!/usr/bin/env bash
# Start the local services tests talk to, if they are stopped, and export their URLs.
# Sourced by scripts/test.sh. Today only the benchmark comparisons and later backends
# (PostgreSQL, Redis) use them; tests that need one read its URL from the variable.

ensure_services() {
  if command -v redis-server >/dev/null 2>&1; then
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
      echo "starting Redis" >&2
      mkdir -p /var/lib/redis /var/log/redis
      redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
    fi
    export BOTSTORE_TEST_REDIS_URL="${BOTSTORE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
      echo "starting PostgreSQL" >&2
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    export BOTSTORE_TEST_POSTGRES_URL="${BOTSTORE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
  fi
}
