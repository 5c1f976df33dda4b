#!/usr/bin/env bash
# compare.sh - end-to-end relay throughput of mtaq beside Postfix, one after
# the other on the same load, with ../shared/bench (smtp-source into the MTA,
# smtp-sink as the destination; loopback only). Prints each run and the
# ratio of medians.
#
#   bench/compare.sh [COUNT] [SESSIONS] [SIZE] [RUNS] [RCPTS]   (default 5000 50 3000 3 1)
#
# With RCPTS > 1 (all at one domain) the sink counts transactions: mtaq
# sends up to 100 recipients in one, Postfix up to 50
# (default_destination_recipient_limit), so each side waits for its own
# count; the rates printed are messages/s (recipients/s = RCPTS times that).
#
# Needs root (Postfix config, smtp-sink drops to nobody) and the postfix
# package (../shared/bench/postfix-relay.sh install). Ports: sink 2526,
# Postfix 2525, mtaq 2530. Every process started here is stopped by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-5000}; sessions=${2:-50}; size=${3:-3000}; runs=${4:-3}; rcpts=${5:-1}
txns() { echo $(( count * ((rcpts + $1 - 1) / $1) )); } # sink count for a per-transaction limit
# shellcheck source=lib.sh
source "$here/lib.sh"

"$shared/sink.sh" start 2526 ok >/dev/null
echo "disk: $("$shared/fsync.sh" "$work" 5 1 | tail -n 1) fsyncs/s (1 writer)"

mtaq_start
: >"$work/mtaq.rates"
for i in $(seq 1 "$runs"); do
  r=$(E2E_EXPECT=$(txns 100) E2E_TIMEOUT_S=600 "$shared/e2e.sh" 127.0.0.1:2530 2526 "$count" "$sessions" "$size" "$rcpts" | tail -n 1)
  r=$(awk -v r="$r" -v t="$(txns 100)" -v c="$count" 'BEGIN{printf "%.1f", r*c/t}')
  echo "mtaq run $i: $r msgs/s"; echo "$r" >>"$work/mtaq.rates"
done
mtaq_stop

POSTFIX_LOG=off "$shared/postfix-relay.sh" start 2525 2526 default >/dev/null
: >"$work/postfix.rates"
for i in $(seq 1 "$runs"); do
  "$shared/postfix-relay.sh" wait-empty 300 >/dev/null
  r=$(E2E_EXPECT=$(txns 50) E2E_TIMEOUT_S=600 "$shared/e2e.sh" 127.0.0.1:2525 2526 "$count" "$sessions" "$size" "$rcpts" | tail -n 1)
  r=$(awk -v r="$r" -v t="$(txns 50)" -v c="$count" 'BEGIN{printf "%.1f", r*c/t}')
  echo "postfix run $i: $r msgs/s"; echo "$r" >>"$work/postfix.rates"
done

m=$(median <"$work/mtaq.rates"); p=$(median <"$work/postfix.rates")
awk -v m="$m" -v p="$p" 'BEGIN{printf "median end-to-end msgs/s: mtaq %.1f, postfix %.1f, ratio %.2fx\n", m, p, m/p}'
