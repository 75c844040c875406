#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benches: Debian's server (installed with
# apt-get when missing, as root), a fresh cluster that listens on a Unix socket in its own
# directory only (no TCP port at all), trust authentication for the one superuser
# `agent_telemetry`, stopped and removed by `stop`.
#
#   postgres.sh start DIR   prints the cluster's URL (postgresql://agent_telemetry@/postgres?host=...)
#   postgres.sh start-tls DIR PORT CERT KEY
#                           the same, listening on 127.0.0.1:PORT too, where it takes only TLS
#                           (server certificate CERT, its key KEY, both PEM): prints the
#                           socket's URL, then postgresql://agent_telemetry@127.0.0.1:PORT/postgres
#   postgres.sh stop DIR    stops it and removes its files
#   postgres.sh halt DIR    stops it and keeps its files: the next `start DIR` finds its data
#                           (the benches keep their generated databases so)
#
# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user
# (Debian's package makes it; `nobody` otherwise). That user must be able to reach DIR: when it
# cannot (DIR inside a private home or a mode-700 temporary directory), the cluster goes into a
# fresh directory under /tmp and DIR/cluster points to it.
set -euo pipefail
action=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}

server_bin() {
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  # No server installed: nothing printed (and no failure, which pipefail would make fatal).
  { ls -d /usr/lib/postgresql/*/bin 2>/dev/null || true; } | sort -V | tail -1
}

case "$action" in
start | start-tls)
  bin=$(server_bin)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      echo "PostgreSQL's server is missing: install Debian's postgresql package (or put initdb and pg_ctl on PATH)" >&2
      exit 1
    fi
    # One install at a time, whoever asks (the tests may start several clusters at once).
    exec 8>/tmp/agent-telemetry-postgres-install.lock
    flock 8
    bin=$(server_bin)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
      echo "installing Debian's postgresql (apt-get)" >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
      bin=$(server_bin)
    fi
    flock -u 8
  fi
  mkdir -p "$dir"
  as=()
  cluster="$dir"
  if [ -f "$dir/cluster" ] && [ -d "$(cat "$dir/cluster")/data" ]; then
    cluster=$(cat "$dir/cluster")
    if [ "$(id -u)" = 0 ]; then
      as=(runuser -u "$(stat -c %U "$cluster/data")" --)
    fi
  elif [ "$(id -u)" = 0 ]; then
    user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    as=(runuser -u "$user" --)
    chown "$user" "$dir"
    if ! "${as[@]}" test -w "$dir"; then
      cluster=$(mktemp -d /tmp/agent-telemetry-pg.XXXXXX)
      chown "$user" "$cluster"
    fi
  fi
  if [ ! -d "$cluster/data" ]; then
    echo "$cluster" >"$dir/cluster"
    "${as[@]}" "$bin/initdb" -D "$cluster/data" -U agent_telemetry --auth=trust --no-sync \
      --locale=C -E UTF8 >"$cluster/initdb.log" 2>&1 || { cat "$cluster/initdb.log" >&2; exit 1; }
  fi
  # A socket only, in the cluster's directory: no port to collide with, nothing on the network.
  # A socket's path is at most 107 bytes: when the cluster's directory is too deep for
  # `.s.PGSQL.PORT` to fit, the socket goes into a short directory under /tmp (DIR/socket names
  # it; `stop` removes it).
  sockets="$cluster"
  if [ $((${#cluster} + 16)) -gt 100 ]; then
    if [ -f "$dir/socket" ] && [ -d "$(cat "$dir/socket")" ]; then
      sockets=$(cat "$dir/socket")
    else
      sockets=$(mktemp -d /tmp/atpg.XXXXXX)
      [ "${#as[@]}" = 0 ] || chown "$(stat -c %U "$cluster/data")" "$sockets"
      echo "$sockets" >"$dir/socket"
    fi
  fi
  # Connections enough for several collectors, their senders and a bench's report.
  options="-c listen_addresses='' -c unix_socket_directories='$sockets' -c max_connections=200"
  url="postgresql://agent_telemetry@/postgres?host=$sockets"
  if [ "$action" = start-tls ]; then
    port=${3:?usage: postgres.sh start-tls DIR PORT CERT KEY}
    # The key is readable by the server's user only, as PostgreSQL insists.
    "${as[@]}" install -m 600 /dev/stdin "$cluster/server.key" <"${5:?}"
    "${as[@]}" install -m 644 /dev/stdin "$cluster/server.crt" <"${4:?}"
    # Loopback over TCP takes TLS only; the socket stays for the tests' own administration.
    printf '%s\n' 'local all all trust' 'hostssl all all 127.0.0.1/32 trust' \
      'hostnossl all all 127.0.0.1/32 reject' | "${as[@]}" tee "$cluster/data/pg_hba.conf" >/dev/null
    options="$options -c listen_addresses=127.0.0.1 -c port=$port -c ssl=on"
    options="$options -c ssl_cert_file='$cluster/server.crt' -c ssl_key_file='$cluster/server.key'"
    url="$url&port=$port
postgresql://agent_telemetry@127.0.0.1:$port/postgres"
  fi
  "${as[@]}" "$bin/pg_ctl" -D "$cluster/data" status >/dev/null 2>&1 ||
  "${as[@]}" "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 60 -o "$options" \
    start >/dev/null || { cat "$cluster/server.log" >&2; exit 1; }
  echo "$url"
  ;;
stop | halt)
  [ -f "$dir/cluster" ] || exit 0
  cluster=$(cat "$dir/cluster")
  bin=$(server_bin)
  as=()
  if [ -d "$cluster/data" ] && [ -n "$bin" ]; then
    if [ "$(id -u)" = 0 ]; then
      as=(runuser -u "$(stat -c %U "$cluster/data")" --)
    fi
    "${as[@]}" "$bin/pg_ctl" -D "$cluster/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ "$action" = stop ]; then
    [ ! -f "$dir/socket" ] || rm -rf "$(cat "$dir/socket")"
    rm -rf "$cluster" "$dir"
  fi
  ;;
*)
  echo "usage: postgres.sh start|start-tls|stop|halt DIR" >&2
  exit 2
  ;;
esac
