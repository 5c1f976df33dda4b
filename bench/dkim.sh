#!/usr/bin/env bash
# dkim.sh - end-to-end relay throughput of mtaq with DKIM signing off, on
# with one RSA-2048 key, and on with RSA-2048 + Ed25519, beside Postfix
# unsigned and Postfix signing with the same RSA-2048 key through OpenDKIM
# (the milter Postfix sites sign with), in the same run, with
# ../shared/bench (smtp-source into the MTA, smtp-sink as the destination;
# loopback only). smtp-source's From is
# @sender.bench.example, the domain the keys sign for. Prints each run,
# the medians, and DKIM's cost against mtaq unsigned.
#
#   bench/dkim.sh [COUNT] [SESSIONS] [SIZE] [RUNS]   (default 5000 50 3000 3)
#
# Needs root and the postfix package, like compare.sh. Ports: sink 2526,
# Postfix 2525, mtaq 2530 (metrics 2531). Every process started is stopped
# by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-5000}; sessions=${2:-50}; size=${3:-3000}; runs=${4:-3}
# shellcheck source=lib.sh
source "$here/lib.sh"

"$shared/sink.sh" start 2526 ok >/dev/null
"$work/mtaq" dkim keygen --domain sender.bench.example --selector rsa --out "$work/rsa.pem" >/dev/null
"$work/mtaq" dkim keygen --domain sender.bench.example --selector ed --algorithm ed25519 --out "$work/ed.pem" >/dev/null
key() { printf '[[dkim]]\ndomain = "sender.bench.example"\nselector = "%s"\nkey_file = "%s"\n' "$1" "$2"; }
nodsn=$'[dsn]\nenabled = false'

# run LABEL EXTRA_TOML: RUNS end-to-end runs on a fresh mtaq; checks from
# the metrics that nothing went out unsigned when keys are configured.
run() {
  mtaq_start "$2"
  : >"$work/$1.rates"
  for i in $(seq 1 "$runs"); do
    r=$(E2E_TIMEOUT_S=600 "$shared/e2e.sh" 127.0.0.1:2530 2526 "$count" "$sessions" "$size" 1 | tail -n 1)
    echo "mtaq $1 run $i: $r msgs/s"; echo "$r" >>"$work/$1.rates"
  done
  unsigned=$( (exec 3<>/dev/tcp/127.0.0.1/2531; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3) |
    awk '/^mtaq_dkim_unsigned_total/ {s+=$2} END {print s+0}')
  echo "mtaq $1: $unsigned messages sent unsigned"
  mtaq_stop
}
run off "$nodsn"
run rsa "$nodsn"$'\n'"$(key rsa "$work/rsa.pem")"
run dual "$nodsn"$'\n'"$(key rsa "$work/rsa.pem")"$'\n'"$(key ed "$work/ed.pem")"

# postfix LABEL [POSTFIX_SET]: RUNS end-to-end runs through a fresh Postfix.
postfix() {
  POSTFIX_SET=${2:-} POSTFIX_LOG=off "$shared/postfix-relay.sh" start 2525 2526 default >/dev/null
  : >"$work/$1.rates"
  for i in $(seq 1 "$runs"); do
    "$shared/postfix-relay.sh" wait-empty 300 >/dev/null
    r=$(E2E_TIMEOUT_S=600 "$shared/e2e.sh" 127.0.0.1:2525 2526 "$count" "$sessions" "$size" 1 | tail -n 1)
    echo "$1 run $i: $r msgs/s"; echo "$r" >>"$work/$1.rates"
  done
  "$shared/postfix-relay.sh" stop >/dev/null
}
postfix postfix
opendkim_start "$work/rsa.pem" rsa
postfix postfix-rsa "$opendkim_postfix_set"
opendkim_stop

off=$(median <"$work/off.rates"); rsa=$(median <"$work/rsa.rates"); dual=$(median <"$work/dual.rates")
pf=$(median <"$work/postfix.rates"); pfr=$(median <"$work/postfix-rsa.rates")
awk -v o="$off" -v r="$rsa" -v d="$dual" -v p="$pf" -v pr="$pfr" 'BEGIN{
  printf "median end-to-end msgs/s: mtaq unsigned %.1f, RSA-2048 %.1f (%.1f%% less), RSA+Ed25519 %.1f (%.1f%% less), postfix %.1f, postfix+opendkim RSA-2048 %.1f\n", o, r, 100*(1-r/o), d, 100*(1-d/o), p, pr
  printf "ratios to postfix unsigned: unsigned %.2fx, RSA-2048 %.2fx, RSA+Ed25519 %.2fx\n", o/p, r/p, d/p
  printf "ratios to postfix+opendkim RSA-2048: RSA-2048 %.2fx, RSA+Ed25519 %.2fx\n", r/pr, d/pr }'
