# lib.sh - shared by the bench scripts: builds and runs mtaq relaying to
# the smtp-sink on 2526 (no DNS), stops what was started by PID. Source it
# after setting: here (this directory).
shared=${SHARED_BENCH:-$here/../../shared/bench}
work=$(mktemp -d /tmp/mtaq-bench.XXXXXX)
mtaq_pid=""
cleanup() {
  [[ -n $mtaq_pid ]] && kill "$mtaq_pid" 2>/dev/null && wait "$mtaq_pid" 2>/dev/null || true
  opendkim_stop
  "$shared/postfix-relay.sh" stop >/dev/null 2>&1 || true
  "$shared/sink.sh" stop 2526 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

(cd "$here/.." && go build -o "$work/mtaq" ./cmd/mtaq && go build -o "$work/latency" ./bench/latency)

# mtaq_start [EXTRA_TOML]: a fresh data dir, listening on 2530, relaying
# to the sink, metrics on 2531 (and /debug/pprof/ with MTAQ_PPROF=true);
# waits until it listens. MTAQ_BIN runs another build (default: this tree's).
mtaq_start() {
  rm -rf "$work/data"
  cat >"$work/mtaq.toml" <<TOML
hostname = "mtaq.bench.example"
data_dir = "$work/data"
[submission]
listen = ["127.0.0.1:2530"]
[delivery]
relay = "127.0.0.1:2526"
relay_tls = "none"
workers = 100
per_domain_concurrency = 100
[metrics]
listen = "127.0.0.1:2531"
pprof = ${MTAQ_PPROF:-false}
[log]
level = "warn"
${1:-[dsn]
enabled = false}
TOML
  "${MTAQ_BIN:-$work/mtaq}" serve --config "$work/mtaq.toml" >"$work/mtaq.log" 2>&1 &
  mtaq_pid=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/2530) 2>/dev/null && return; sleep 0.1; done
  echo "mtaq did not listen:" >&2; tail -n 20 "$work/mtaq.log" >&2; exit 1
}
mtaq_stop() { kill "$mtaq_pid"; wait "$mtaq_pid" 2>/dev/null || true; mtaq_pid=""; }

# opendkim_start KEY_FILE SELECTOR: OpenDKIM (Debian's opendkim, installed
# here when missing) as Postfix's signing milter on 127.0.0.1:8891, with
# the same key and canonicalization (relaxed/relaxed, rsa-sha256) mtaq
# signs with; sets opendkim_pid. Pass Postfix the milter with
# POSTFIX_SET="$opendkim_postfix_set".
opendkim_pid=""
opendkim_postfix_set="smtpd_milters=inet:127.0.0.1:8891;non_smtpd_milters=inet:127.0.0.1:8891;milter_default_action=tempfail"
opendkim_start() {
  command -v opendkim >/dev/null || DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y --no-install-recommends opendkim >/dev/null
  cat >"$work/opendkim.conf" <<CONF
Syslog no
Background no
Mode s
Socket inet:8891@127.0.0.1
Domain sender.bench.example
Selector $2
KeyFile $1
RequireSafeKeys false
Canonicalization relaxed/relaxed
SignatureAlgorithm rsa-sha256
InternalHosts 127.0.0.0/8
PidFile $work/opendkim.pid
CONF
  opendkim -x "$work/opendkim.conf" >"$work/opendkim.log" 2>&1 &
  opendkim_pid=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/8891) 2>/dev/null && return; sleep 0.1; done
  echo "opendkim did not listen:" >&2; cat "$work/opendkim.log" >&2; exit 1
}
opendkim_stop() { [[ -n $opendkim_pid ]] && kill "$opendkim_pid" 2>/dev/null && wait "$opendkim_pid" 2>/dev/null || true; opendkim_pid=""; }
