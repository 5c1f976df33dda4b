#!/usr/bin/env bash
# profile.sh - CPU and allocation profiles of mtaq relaying the cpu.sh load
# (smtp-source -> mtaq -> smtp-sink, loopback only), from the daemon's own
# /debug/pprof/ ([metrics] pprof = true on 127.0.0.1:2531).
#
#   bench/profile.sh [COUNT] [SESSIONS] [SIZE] [SECONDS] [OUT_DIR] [EXTRA_TOML]
#                    (default 8000 50 3000 15 ./mtaq-profile; EXTRA_TOML e.g. a [[dkim]] key)
#
# The CPU profile covers SECONDS from one second after the load starts (keep
# COUNT large enough that the relay is still busy by then); the allocation
# profile is everything the process allocated from its start to the end of
# the run. Writes OUT_DIR/cpu.pb.gz, OUT_DIR/allocs.pb.gz and the top 25
# entries of each (flat) as text; prints the CPU top. Needs root and the
# postfix package (smtp-source, smtp-sink). Ports: sink 2526, mtaq 2530,
# metrics 2531.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-8000}; sessions=${2:-50}; size=${3:-3000}; secs=${4:-15}
out=$(mkdir -p "${5:-./mtaq-profile}" && cd "${5:-./mtaq-profile}" && pwd)
extra=${6:-}
# shellcheck source=lib.sh
source "$here/lib.sh"

"$shared/sink.sh" start 2526 ok >/dev/null
MTAQ_PPROF=true mtaq_start "[dsn]
enabled = false
$extra"
E2E_TIMEOUT_S=600 "$shared/e2e.sh" 127.0.0.1:2530 2526 "$count" "$sessions" "$size" 1 >"$work/e2e.out" &
load=$!
sleep 1
curl -sf -o "$out/cpu.pb.gz" "http://127.0.0.1:2531/debug/pprof/profile?seconds=$secs"
wait "$load"
echo "end to end: $(tail -n 1 "$work/e2e.out") msgs/s"
curl -sf -o "$out/allocs.pb.gz" "http://127.0.0.1:2531/debug/pprof/allocs"
cp "$work/mtaq" "$out/mtaq"
go tool pprof -top -nodecount=25 "$out/mtaq" "$out/cpu.pb.gz" 2>/dev/null >"$out/cpu.top"
go tool pprof -top -nodecount=25 -cum "$out/mtaq" "$out/cpu.pb.gz" 2>/dev/null >"$out/cpu.cum"
go tool pprof -top -nodecount=25 -sample_index=alloc_space "$out/mtaq" "$out/allocs.pb.gz" 2>/dev/null >"$out/alloc_space.top"
go tool pprof -top -nodecount=25 -sample_index=alloc_objects "$out/mtaq" "$out/allocs.pb.gz" 2>/dev/null >"$out/alloc_objects.top"
cat "$out/cpu.top"
