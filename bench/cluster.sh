#!/usr/bin/env bash
# cluster.sh - one node's end-to-end relay rate with [cluster] on beside off
# (issue 18: on must keep >= 90% of off), alternating off and on runs on the
# same load so drift on a shared machine hits both. With [cluster] the node
# joins a fresh PostgreSQL database, heartbeats and LISTENs; nothing on the
# mail path talks to the database.
#
#   bench/cluster.sh [COUNT] [SESSIONS] [SIZE] [RUNS]   (default 5000 50 3000 3)
#
# Needs what compare.sh needs (root, the postfix package for smtp-source and
# smtp-sink; ports 2526, 2530, 2531) and PostgreSQL on 127.0.0.1:5432 with
# trust for the user postgres (as .ci/run sets it up); it creates a database
# mtaq_bench_<pid> and drops it. Every process started here is stopped by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-5000}; sessions=${2:-50}; size=${3:-3000}; runs=${4:-3}
# shellcheck source=lib.sh
source "$here/lib.sh"
db=mtaq_bench_$$
pg() { psql -h 127.0.0.1 -U postgres -d test -qAtc "$1"; }
pg "CREATE DATABASE $db"
trap 'cleanup; pg "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true' EXIT

"$shared/sink.sh" start 2526 ok >/dev/null
echo "disk: $("$shared/fsync.sh" "$work" 5 1 | tail -n 1) fsyncs/s (1 writer)"
: >"$work/off.rates"; : >"$work/on.rates"
for i in $(seq 1 "$runs"); do
  for mode in off on; do
    if [[ $mode == on ]]; then
      # A fresh data directory is a new node: a name of its own per run.
      mtaq_start "[dsn]
enabled = false
[cluster]
postgres = \"postgres://postgres@127.0.0.1:5432/$db?sslmode=disable\"
node = \"bench-$i\""
    else
      mtaq_start
    fi
    r=$(E2E_TIMEOUT_S=600 "$shared/e2e.sh" 127.0.0.1:2530 2526 "$count" "$sessions" "$size" | tail -n 1)
    mtaq_stop
    echo "run $i, [cluster] $mode: $r msgs/s"; echo "$r" >>"$work/$mode.rates"
  done
done
off=$(median <"$work/off.rates"); on=$(median <"$work/on.rates")
awk -v a="$off" -v b="$on" 'BEGIN{printf "median end-to-end msgs/s: [cluster] off %.1f, on %.1f, on/off %.1f%%\n", a, b, 100*b/a}'
