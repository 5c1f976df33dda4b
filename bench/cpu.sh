#!/usr/bin/env bash
# cpu.sh - CPU seconds per relayed message (user + sys of all of the MTA's
# processes) for mtaq beside Postfix, on the same smtp-source -> MTA ->
# smtp-sink load (../shared/bench, loopback only). Unlike a rate, this
# figure hardly depends on the disk or on what else loads the machine.
#
#   bench/cpu.sh [COUNT] [SESSIONS] [SIZE] [RUNS]   (default 5000 50 3000 3)
#
# mtaq runs with DKIM signing off, with one RSA-2048 key and with one
# Ed25519 key (From is @sender.bench.example, the domain the keys sign
# for). Postfix runs unsigned, and signing with the same RSA-2048 key
# through OpenDKIM, the milter Postfix sites sign with (its CPU counted
# with Postfix's: both processes' trees).
#
# How: before and after each run, the sum of utime+stime+cutime+cstime
# (/proc/PID/stat) over the MTA's process tree: mtaq's one process, or
# Postfix's master and its children (smtpd, cleanup, qmgr, smtp,
# trivial-rewrite...; a child that exits is reaped by the master, so its
# CPU moves into the master's cutime and stays counted). The "after"
# reading waits until the sink has every message and the tree is idle (no
# CPU over 0.3 s, at most 10 s), so the work behind the last message
# (removing it from the queue) is counted too. smtp-source and smtp-sink
# are not in either tree.
#
# With CPU_AB=/path/to/another/mtaq it measures only mtaq unsigned, that
# build against this tree's, alternating runs on fresh data directories
# (before/after a change, on the same load), and skips DKIM and Postfix.
#
# Needs root and the postfix package, like compare.sh. Ports: sink 2526,
# Postfix 2525, mtaq 2530 (metrics 2531). With MTAQ_PPROF=true mtaq serves
# /debug/pprof/ on 2531 (for profiling during a run). Every process started
# here is stopped by PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
count=${1:-5000}; sessions=${2:-50}; size=${3:-3000}; runs=${4:-3}
# shellcheck source=lib.sh
source "$here/lib.sh"
hz=$(getconf CLK_TCK)

# ticks "ROOT..." : "user sys" clock ticks used so far by the ROOTs and
# their live descendants, including the children they have reaped.
ticks() {
  local pids
  pids=$(ps -e -o pid=,ppid= | awk -v r="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { n = split(r, q, " "); for (i = 1; i <= n; i++) { print q[i]; m = split(kids[q[i]], k, " "); for (j = 1; j <= m; j++) q[++n] = k[j] } }')
  # Fields after "(comm) ": 12 utime, 13 stime, 14 cutime, 15 cstime.
  for p in $pids; do sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || true; done |
    awk '{ u += $12 + $14; s += $13 + $15 } END { print u + 0, s + 0 }'
}
total() { echo "$1" | awk '{ print $1 + $2 }'; }
# idle ROOT: waits until ROOT's tree used no CPU over 0.3 s (at most 10 s).
idle() {
  local a b
  a=$(total "$(ticks "$1")")
  for _ in $(seq 1 33); do
    sleep 0.3; b=$(total "$(ticks "$1")")
    [[ $a == "$b" ]] && return; a=$b
  done
}
# measure LABEL ROOT ADDR: one run; appends "cpu_ms_per_msg user_ms sys_ms rate" to $work/LABEL.
measure() {
  local t0 t1 r
  idle "$2"; t0=$(ticks "$2")
  r=$(E2E_TIMEOUT_S=600 "$shared/e2e.sh" "$3" 2526 "$count" "$sessions" "$size" 1 | tail -n 1)
  idle "$2"; t1=$(ticks "$2")
  echo "$t0 $t1 $r" | awk -v n="$count" -v hz="$hz" -v l="$1" -v f="$work/$1" '{
    u = ($3 - $1) * 1000 / hz / n; s = ($4 - $2) * 1000 / hz / n
    printf "%s: %.3f ms CPU/msg (user %.3f, sys %.3f), %.1f msgs/s end to end\n", l, u + s, u, s, $5
    printf "%.4f %.4f %.4f %.1f\n", u + s, u, s, $5 >> f }'
}
med() { awk -v c="$2" '{ print $c }' "$work/$1" | median; }

"$shared/sink.sh" start 2526 ok >/dev/null
"$work/mtaq" dkim keygen --domain sender.bench.example --selector rsa --out "$work/rsa.pem" >/dev/null
"$work/mtaq" dkim keygen --domain sender.bench.example --selector ed --algorithm ed25519 --out "$work/ed.pem" >/dev/null
key() { printf '[[dkim]]\ndomain = "sender.bench.example"\nselector = "%s"\nkey_file = "%s"\n' "$1" "$2"; }
nodsn=$'[dsn]\nenabled = false'
echo "disk: $("$shared/fsync.sh" "$work" 5 1 | tail -n 1) fsyncs/s (1 writer); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ -n ${CPU_AB:-} ]]; then
  for _ in $(seq 1 "$runs"); do
    MTAQ_BIN=$CPU_AB mtaq_start "$nodsn"; measure base "$mtaq_pid" 127.0.0.1:2530; mtaq_stop
    mtaq_start "$nodsn"; measure this "$mtaq_pid" 127.0.0.1:2530; mtaq_stop
  done
  b=$(med base 1); t=$(med this 1)
  echo "disk: $("$shared/fsync.sh" "$work" 5 1 | tail -n 1) fsyncs/s (1 writer); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  awk -v b="$b" -v t="$t" -v n="$runs" 'BEGIN{ printf "medians of %d alternating runs: %s %.3f ms CPU/msg, this tree %.3f ms CPU/msg (%+.1f%%)\n", n, ENVIRON["CPU_AB"], b, t, 100 * (t / b - 1) }'
  exit 0
fi

# mtaq_mode LABEL EXTRA_TOML: one run on a fresh mtaq. The modes take
# turns run by run, so a change in the machine's load over the minutes of
# a measurement falls on all of them alike.
mtaq_mode() {
  mtaq_start "$2"
  measure "$1" "$mtaq_pid" 127.0.0.1:2530
  unsigned=$( (exec 3<>/dev/tcp/127.0.0.1/2531; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3) |
    awk '/^mtaq_dkim_unsigned_total/ {s+=$2} END {print s+0}')
  echo "$1: $unsigned messages sent unsigned"
  mtaq_stop
}
for _ in $(seq 1 "$runs"); do
  mtaq_mode mtaq-unsigned "$nodsn"
  mtaq_mode mtaq-rsa2048 "$nodsn"$'\n'"$(key rsa "$work/rsa.pem")"
  mtaq_mode mtaq-ed25519 "$nodsn"$'\n'"$(key ed "$work/ed.pem")"
done

# postfix_mode LABEL [POSTFIX_SET] [MORE_ROOTS]: RUNS runs through a fresh
# Postfix, counting its master's tree and MORE_ROOTS' (OpenDKIM).
postfix_mode() {
  local master
  POSTFIX_SET=${2:-} POSTFIX_LOG=off "$shared/postfix-relay.sh" start 2525 2526 default >/dev/null
  "$shared/postfix-relay.sh" wait-empty 300 >/dev/null
  master=$(tr -d ' \n' <"$(postconf -h queue_directory)/pid/master.pid")
  for _ in $(seq 1 "$runs"); do measure "$1" "$master ${3:-}" 127.0.0.1:2525; done
  "$shared/postfix-relay.sh" stop >/dev/null
}
postfix_mode postfix
opendkim_start "$work/rsa.pem" rsa
postfix_mode postfix-rsa2048 "$opendkim_postfix_set" "$opendkim_pid"
opendkim_stop

echo "disk: $("$shared/fsync.sh" "$work" 5 1 | tail -n 1) fsyncs/s (1 writer); load average $(cut -d' ' -f1-3 /proc/loadavg)"
pf=$(med postfix 1)
echo "medians of $runs runs, $count messages of $size bytes over $sessions sessions:"
pfr=$(med postfix-rsa2048 1)
for l in mtaq-unsigned mtaq-rsa2048 mtaq-ed25519 postfix postfix-rsa2048; do
  awk -v l="$l" -v c="$(med "$l" 1)" -v u="$(med "$l" 2)" -v s="$(med "$l" 3)" -v r="$(med "$l" 4)" -v p="$pf" -v pr="$pfr" 'BEGIN{
    printf "%-15s %.3f ms CPU/msg (user %.3f, sys %.3f)  %.2f of Postfix unsigned  %.2f of Postfix+OpenDKIM  %.1f msgs/s\n", l, c, u, s, c / p, c / pr, r }'
done
