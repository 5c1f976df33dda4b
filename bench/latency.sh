#!/usr/bin/env bash
# latency.sh - acceptance latency (final dot to 250) of mtaq beside Postfix,
# with bench/latency as the load and ../shared/bench's smtp-sink as the
# destination (both MTAs relay everything to it and fsync before the 250).
#
#   bench/latency.sh [COUNT] [SESSIONS] [SIZE] [RUNS]   (default 10000 50 4000 3)
#
# Each run, for each MTA: first as fast as SESSIONS closed-loop sessions go
# (its maximum accept rate while relaying), then open loop at half of
# mtaq's maximum, then (Postfix) at half of its own. Prints one line per
# measurement, then the medians of p50, p99 and p99.9. Needs root and the postfix
# package. Ports: sink 2526, Postfix 2525, mtaq 2530.
#
# HALF="MTAQ_RATE POSTFIX_RATE" skips the closed-loop maxima and offers these
# rates instead: half of each one's sustained end-to-end relay rate from
# compare.sh, for a maximum that includes delivering what was accepted (the
# closed loop accepts faster than mtaq relays, so half of it can exceed what
# mtaq sustains).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-10000}; sessions=${2:-50}; size=${3:-4000}; runs=${4:-3}
# shellcheck source=lib.sh
source "$here/lib.sh"
run() { # NAME ADDR RATE: one measurement, logged under NAME
  local out
  out=$("$work/latency" -addr "$2" -n "$count" -sessions "$sessions" -size "$size" -rate "$3" -reuse || true)
  echo "$1: $out" | tee -a "$work/lat.log" >&2
  echo "$out"
}
achieved() { sed -n 's/.*achieved=\([0-9.]*\).*/\1/p'; }
half() { awk -v a="$(achieved)" 'BEGIN{printf "%.0f", a/2}'; }

"$shared/sink.sh" start 2526 ok >/dev/null
: >"$work/lat.log"
for i in $(seq 1 "$runs"); do
  mtaq_start
  if [ -n "${HALF:-}" ]; then
    rate=${HALF% *}
  else
    sunk=$("$shared/sink.sh" count 2526)
    rate=$(run "mtaq max" 127.0.0.1:2530 0 | half)
    # As for Postfix below (wait-empty): the half run starts with the queue
    # empty, not while the maximum's backlog is still being relayed.
    "$shared/sink.sh" wait 2526 $((sunk + count)) 600 >/dev/null
  fi
  run "mtaq at half" 127.0.0.1:2530 "$rate" >/dev/null
  mtaq_stop
  POSTFIX_LOG=off "$shared/postfix-relay.sh" start 2525 2526 default >/dev/null
  "$shared/postfix-relay.sh" wait-empty 300 >/dev/null
  if [ -n "${HALF:-}" ]; then prate=${HALF#* }; else prate=$(run "postfix max" 127.0.0.1:2525 0 | half); fi
  "$shared/postfix-relay.sh" wait-empty 600 >/dev/null
  run "postfix at mtaq's half" 127.0.0.1:2525 "$rate" >/dev/null
  "$shared/postfix-relay.sh" wait-empty 600 >/dev/null
  run "postfix at half" 127.0.0.1:2525 "$prate" >/dev/null
  "$shared/postfix-relay.sh" wait-empty 600 >/dev/null
  "$shared/postfix-relay.sh" stop >/dev/null
done
for name in "mtaq max" "mtaq at half" "postfix max" "postfix at mtaq's half" "postfix at half"; do
  lines=$(grep -F "$name: " "$work/lat.log" || true)
  [ -n "$lines" ] || continue # no maxima with HALF
  echo "$lines" | awk -v n="$name" '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      a[NR] = v["achieved"] + 0; p50[NR] = v["p50"] + 0; p99[NR] = v["p99"] + 0; p999[NR] = v["p99.9"] + 0 }
    function med(x,   n, i, j, t) { n = NR; for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }; return x[int((n + 1) / 2)] }
    END { printf "median %-24s achieved %7.1f/s  p50 %6.2f ms  p99 %6.2f ms  p99.9 %6.2f ms\n", n":", med(a), med(p50), med(p99), med(p999) }'
done
