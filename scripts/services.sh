#!/usr/bin/env bash
# Start the local services tests talk to, if they are stopped, and export their URLs.
# Sourced by scripts/test.sh. Today only the benchmark comparisons and later backends
# (PostgreSQL, Redis) use them; tests that need one read its URL from the variable.
# Also installs headless Chromium (Debian's `chromium`) for the browser test of the
# server's page at `/` (crates/botstore-cli/tests/home_page.rs), which fails in CI
# without it.

# Chromium and a font to render text with, once (as root, non-interactive); `apt-get
# update` only when the package lists do not know the package yet.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "chromium is missing and this is not root: install it (apt-get install chromium)" >&2
    return 0
  fi
  echo "installing chromium (the browser test of the server's page)" >&2
  local pkgs=(chromium fonts-dejavu-core)
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null; } ||
    echo "could not install chromium; the browser test will fail in CI" >&2
}

ensure_services() {
  ensure_chromium
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
