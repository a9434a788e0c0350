#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, on 127.0.0.1 only, in a temporary folder.
#
#   scripts/postgres.sh [start] [DIR]   start a cluster in DIR (default: a new temp dir) and print
#                                       its URL on stdout (postgresql+psycopg://tunewise@127.0.0.1:PORT/postgres)
#   scripts/postgres.sh stop DIR        stop it and delete DIR
#   scripts/postgres.sh install         only make sure the binaries are there (for setup.sh)
#
# Installs Debian's postgresql first when the binaries are missing and we are root. The server
# runs as an unprivileged user (postgres, else nobody, when started by root), with trust auth on
# loopback and durability off: it is for tests only. Diagnostics go to stderr.
set -euo pipefail

action=${1:-start}
dir=${2:-}

find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir; return
  fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
}

as_owner() {  # run a command as the cluster owner
  if [ "$(id -u)" = 0 ]; then
    su -s /bin/sh "$owner" -c "$*"
  else
    sh -c "$*"
  fi
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "postgres.sh: installing postgresql with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
    bindir=$(find_bindir || true)
  fi
  if [ -z "$bindir" ]; then
    echo "postgres.sh: PostgreSQL binaries (initdb, pg_ctl) not found; install Debian's postgresql" >&2
    exit 3
  fi
fi

[ "$action" = install ] && { echo "postgres.sh: PostgreSQL binaries in $bindir" >&2; exit 0; }

owner=$(id -un)
if [ "$(id -u)" = 0 ]; then
  if id postgres >/dev/null 2>&1; then owner=postgres; else owner=nobody; fi
fi

case "$action" in
  stop)
    [ -n "$dir" ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "'$bindir/pg_ctl' -D '$dir/data' -m immediate -w stop" >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  start)
    [ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/tunewise-pg.XXXXXX")
    mkdir -p "$dir"
    chmod 700 "$dir"
    [ "$(id -u)" = 0 ] && chown "$owner" "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    as_owner "'$bindir/initdb' -D '$dir/data' -U tunewise -A trust -E UTF8 --no-sync" >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    opts="-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
    if ! as_owner "'$bindir/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 -o '$opts' start" >/dev/null 2>&1; then
      cat "$dir/server.log" >&2 || true
      exit 1
    fi
    echo "postgres.sh: server in $dir (stop with: $0 stop $dir)" >&2
    echo "postgresql+psycopg://tunewise@127.0.0.1:$port/postgres"
    ;;
  *)
    echo "usage: $0 [start [DIR] | stop DIR | install]" >&2; exit 2
    ;;
esac
