#!/usr/bin/env bash
# storm.sh - failure-path rates of mtaq beside Postfix, one after the other on
# the same load, with ../shared/bench. The sink answers every RCPT with 450
# (soft: a deferral storm) or 500 (hard: a bounce storm); the rate is
# messages whose outcome is recorded per second, from the start of the load
# until the last one is recorded:
#   soft: mtaq's mtaq_deliveries_total{outcome="deferred"} reaches COUNT;
#         Postfix's deferred queue holds COUNT and nothing is active.
#   hard: mtaq's mtaq_deliveries_total{outcome="bounced"} and mtaq_suppressions
#         reach COUNT (DSNs on; they go to the sink, which refuses them; an
#         operator rule makes the sink's generic 500 a user-unknown bounce;
#         the DSN bounces and the sender's entry count too: 1 in COUNT);
#         Postfix's queue is empty (its DSNs to the load's sender domain are
#         discarded by the bench relay).
# Recipients are unique (smtp-source -N) so no message is refused from the
# suppression list instead of being attempted.
#
#   bench/storm.sh soft|hard [COUNT] [SESSIONS] [SIZE] [RUNS]   (default 5000 50 3000 3)
#
# Needs root and the postfix package. Ports: sink 2526, Postfix 2525, mtaq
# 2530 (metrics 2531). Every process started here is stopped by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kind=${1:-}; [[ $kind == soft || $kind == hard ]] || { sed -n '2,19p' "$0" >&2; exit 2; }
count=${2:-5000}; sessions=${3:-50}; size=${4:-3000}; runs=${5:-3}
# shellcheck source=lib.sh
source "$here/lib.sh"
export LOAD_OPTS="-N" LOAD_TIMEOUT_S=900

metric() { # sum of a metric's samples whose labels match $2
  curl -fs http://127.0.0.1:2531/metrics | awk -v n="$1" -v l="$2" \
    '$1 ~ "^"n && (l == "" || index($1, l)) {s += $2} END {printf "%d\n", s}'
}
mtaq_done() {
  if [[ $kind == soft ]]; then
    (( $(metric mtaq_deliveries_total 'outcome="deferred"') >= count ))
  else
    (( $(metric mtaq_deliveries_total 'outcome="bounced"') >= count && $(metric mtaq_suppressions '') >= count ))
  fi
}

if [[ $kind == soft ]]; then mode=soft:RCPT; else mode=hard:RCPT; fi
"$shared/sink.sh" start 2526 "$mode" >/dev/null

: >"$work/mtaq.rates"
for i in $(seq 1 "$runs"); do
  if [[ $kind == hard ]]; then
    # smtp-sink's "500 5.3.0 Error: command failed" does not say the address
    # is bad, so by itself it fails the message without suppressing; this
    # operator rule makes it a user-unknown bounce, the path being measured.
    mtaq_start '[dsn]
enabled = true
[[policy.rule]]
name = "bench-sink-500-is-user-unknown"
code = 500
class = "hard"
category = "user_unknown"
suppress = true'
  else mtaq_start; fi
  t0=$(now)
  "$shared/load.sh" 127.0.0.1:2530 "$count" "$sessions" "$size" 1 >/dev/null
  deadline=$(( $(date +%s) + 900 ))
  until mtaq_done; do
    (( $(date +%s) < deadline )) || { echo "mtaq: timeout" >&2; tail -n 20 "$work/mtaq.log" >&2; exit 1; }
    sleep 0.1
  done
  r=$(awk -v a="$t0" -v b="$(now)" -v n="$count" 'BEGIN{printf "%.1f\n", n/(b-a)}')
  echo "mtaq run $i: $r msgs/s recorded $kind"; echo "$r" >>"$work/mtaq.rates"
  mtaq_stop
done

POSTFIX_LOG=off "$shared/postfix-relay.sh" start 2525 2526 default >/dev/null
: >"$work/postfix.rates"
for i in $(seq 1 "$runs"); do
  "$shared/postfix-relay.sh" purge >/dev/null
  "$shared/postfix-relay.sh" wait-empty 300 >/dev/null
  t0=$(now)
  "$shared/load.sh" 127.0.0.1:2525 "$count" "$sessions" "$size" 1 >/dev/null
  if [[ $kind == soft ]]; then
    "$shared/postfix-relay.sh" wait-deferred "$count" 900 >/dev/null
  else
    "$shared/postfix-relay.sh" wait-empty 900 >/dev/null
  fi
  r=$(awk -v a="$t0" -v b="$(now)" -v n="$count" 'BEGIN{printf "%.1f\n", n/(b-a)}')
  echo "postfix run $i: $r msgs/s recorded $kind"; echo "$r" >>"$work/postfix.rates"
done
"$shared/postfix-relay.sh" purge >/dev/null

m=$(median <"$work/mtaq.rates"); p=$(median <"$work/postfix.rates")
awk -v m="$m" -v p="$p" -v k="$kind" 'BEGIN{printf "median %s-storm msgs/s recorded: mtaq %.1f, postfix %.1f, ratio %.2fx\n", k, m, p, m/p}'
