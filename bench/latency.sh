#!/usr/bin/env bash
# latency.sh - acceptance latency (final dot to 250) of mtaq beside Postfix,
# with bench/latency as the load and ../shared/bench's smtp-sink as the
# destination (both MTAs relay everything to it and fsync before the 250).
#
#   bench/latency.sh [COUNT] [SESSIONS] [SIZE]   (default 10000 50 4000)
#
# For each MTA: first as fast as SESSIONS closed-loop sessions go (its
# maximum accept rate while relaying), then open loop at half of mtaq's
# maximum, then (Postfix) at half of its own. Prints one line per run with
# p50/p90/p99. Needs root and the postfix package. Ports: sink 2526,
# Postfix 2525, mtaq 2530.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-10000}; sessions=${2:-50}; size=${3:-4000}
# shellcheck source=lib.sh
source "$here/lib.sh"
run() { # ADDR RATE
  "$work/latency" -addr "$1" -n "$count" -sessions "$sessions" -size "$size" -rate "$2" -reuse
}
achieved() { sed -n 's/.*achieved=\([0-9.]*\).*/\1/p'; }

"$shared/sink.sh" start 2526 ok >/dev/null
mtaq_start
max=$(run 127.0.0.1:2530 0); echo "mtaq max:        $max"
half=$(awk -v a="$(echo "$max" | achieved)" 'BEGIN{printf "%.0f", a/2}')
echo "mtaq at $half/s:   $(run 127.0.0.1:2530 "$half")"
mtaq_stop

POSTFIX_LOG=off "$shared/postfix-relay.sh" start 2525 2526 default >/dev/null
"$shared/postfix-relay.sh" wait-empty 300 >/dev/null
pmax=$(run 127.0.0.1:2525 0); echo "postfix max:     $pmax"
"$shared/postfix-relay.sh" wait-empty 600 >/dev/null
echo "postfix at $half/s: $(run 127.0.0.1:2525 "$half" || true)"
"$shared/postfix-relay.sh" wait-empty 600 >/dev/null
phalf=$(awk -v a="$(echo "$pmax" | achieved)" 'BEGIN{printf "%.0f", a/2}')
echo "postfix at $phalf/s: $(run 127.0.0.1:2525 "$phalf")"
