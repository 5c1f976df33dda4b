#!/usr/bin/env bash
# compare.sh - end-to-end relay throughput of mtaq beside Postfix, one after
# the other on the same load, with ../shared/bench (smtp-source into the MTA,
# smtp-sink as the destination; loopback only). Prints each run and the
# ratio of medians.
#
#   bench/compare.sh [COUNT] [SESSIONS] [SIZE] [RUNS]   (default 5000 50 3000 3)
#
# Needs root (Postfix config, smtp-sink drops to nobody) and the postfix
# package (../shared/bench/postfix-relay.sh install). Ports: sink 2526,
# Postfix 2525, mtaq 2530. Every process started here is stopped by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shared=${SHARED_BENCH:-$here/../../shared/bench}
count=${1:-5000}; sessions=${2:-50}; size=${3:-3000}; runs=${4:-3}
work=$(mktemp -d /tmp/mtaq-compare.XXXXXX)
mtaq_pid=""
cleanup() {
  [[ -n $mtaq_pid ]] && kill "$mtaq_pid" 2>/dev/null && wait "$mtaq_pid" 2>/dev/null || true
  "$shared/postfix-relay.sh" stop >/dev/null 2>&1 || true
  "$shared/sink.sh" stop 2526 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

(cd "$here/.." && go build -o "$work/mtaq" ./cmd/mtaq)
cat > "$work/mtaq.toml" <<TOML
hostname = "mtaq.bench.example"
data_dir = "$work/data"
[submission]
listen = ["127.0.0.1:2530"]
[delivery]
relay = "127.0.0.1:2526"
relay_tls = "none"
workers = 100
per_domain_concurrency = 100
[dsn]
enabled = false
[log]
level = "warn"
TOML

"$shared/sink.sh" start 2526 ok >/dev/null
echo "disk: $("$shared/fsync.sh" "$work" 5 1 | tail -n 1) fsyncs/s (1 writer)"

"$work/mtaq" serve --config "$work/mtaq.toml" >"$work/mtaq.log" 2>&1 &
mtaq_pid=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/2530) 2>/dev/null && break; sleep 0.1; done
: >"$work/mtaq.rates"
for i in $(seq 1 "$runs"); do
  r=$(E2E_TIMEOUT_S=600 "$shared/e2e.sh" 127.0.0.1:2530 2526 "$count" "$sessions" "$size" 1 | tail -n 1)
  echo "mtaq run $i: $r msgs/s"; echo "$r" >>"$work/mtaq.rates"
done
kill "$mtaq_pid"; wait "$mtaq_pid" 2>/dev/null || true; mtaq_pid=""

POSTFIX_LOG=off "$shared/postfix-relay.sh" start 2525 2526 default >/dev/null
: >"$work/postfix.rates"
for i in $(seq 1 "$runs"); do
  "$shared/postfix-relay.sh" wait-empty 300 >/dev/null
  r=$(E2E_TIMEOUT_S=600 "$shared/e2e.sh" 127.0.0.1:2525 2526 "$count" "$sessions" "$size" 1 | tail -n 1)
  echo "postfix run $i: $r msgs/s"; echo "$r" >>"$work/postfix.rates"
done

m=$(median <"$work/mtaq.rates"); p=$(median <"$work/postfix.rates")
awk -v m="$m" -v p="$p" 'BEGIN{printf "median end-to-end msgs/s: mtaq %.1f, postfix %.1f, ratio %.2fx\n", m, p, m/p}'
