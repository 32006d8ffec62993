#!/usr/bin/env bash
# Start a throwaway PostgreSQL on loopback for the destination test; print its DSN on stdout.
# Installs Debian's server package when missing. Prints nothing (and exits 0) when it cannot,
# so the test skips with its own reason instead of failing CI on a machine without apt.
set -uo pipefail
log() { echo "[postgres] $*" >&2; }

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "installing Debian's postgresql package"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2 \
      || { log "could not install postgresql"; exit 0; }
  else
    log "no PostgreSQL server and no way to install one"; exit 0
  fi
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
port=${HCP_PG_PORT:-55432}
dir=$(mktemp -d /tmp/hcp-pg.XXXXXX)
run() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$dir"
run "$bin/initdb -D $dir/data -A trust -U postgres >/dev/null" >&2 || { log "initdb failed"; exit 0; }
run "$bin/pg_ctl -D $dir/data -l $dir/log -o '-p $port -k $dir -c listen_addresses=127.0.0.1' -w start >/dev/null" >&2 \
  || { log "pg_ctl start failed: $(tail -n5 $dir/log 2>/dev/null)"; exit 0; }
echo "postgresql://postgres@127.0.0.1:$port/postgres"
