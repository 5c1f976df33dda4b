#!/usr/bin/env bash
# generate.sh [MTA...] - regenerate the bounce corpus from real MTAs run here.
#
# MTAs: postfix exim mtaq vacation sieve (default: all). Each writes its files
# under DIR/<mta>/ and its rows of labels.tsv; rows of MTAs not regenerated
# are kept. Needs root (Postfix and Exim drop privileges themselves),
# /usr/sbin/postfix (Debian "postfix"), python3, go, and apt-get download for
# the MTAs that are only unpacked (exim4-daemon-light, vacation,
# dovecot-sieve): no MTA is installed or replaced on the system; the one
# package installed is the library libidn12 (Exim links to it).
#
# Everything talks only to 127.0.0.0/8: the MTAs relay every message to
# tools/sink.py, which plays the remote servers (reply by recipient domain)
# and captures every message to sender.example, i.e. the bounces. Every
# process started here is stopped by its PID before exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS=$HERE/tools
export PATH=$PATH:/usr/sbin:/sbin:/usr/local/go/bin
MTAS=("$@"); [[ ${#MTAS[@]} -gt 0 ]] || MTAS=(postfix exim mtaq vacation sieve)
WORK=$(mktemp -d /tmp/mtaq-corpus.XXXXXX)
chmod 755 "$WORK"  # the MTAs drop privileges and must reach their spools
CAP=$WORK/cap
SINK=127.0.0.1
PIDS=()
STOPS=()

cleanup() {
  local s p
  for s in "${STOPS[@]}"; do eval "$s" || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

# row FILE KIND RECIPIENT STATUS SOURCE: one line of labels.tsv
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$WORK/labels-$CUR.tsv"; }
collect() { python3 "$TOOLS/collect.py" "$CAP" "$@"; }
inject() { python3 "$TOOLS/inject.py" "$@" >/dev/null; }

python3 "$TOOLS/sink.py" --dir "$CAP" --listen $SINK:2601 --listen $SINK:2602:nodsn \
  --listen $SINK:2603:size=2000 --dns 127.0.0.53 --lifetime 3600 >"$WORK/sink.log" 2>&1 &
PIDS+=($!)
sleep 1
kill -0 "${PIDS[0]}" || { cat "$WORK/sink.log"; exit 1; }

. "$TOOLS/gen-postfix.sh"
. "$TOOLS/gen-exim.sh"
. "$TOOLS/gen-mtaq.sh"
. "$TOOLS/gen-autoreply.sh"

for CUR in "${MTAS[@]}"; do
  : >"$WORK/labels-$CUR.tsv"
  rm -rf "${HERE:?}/$CUR"; mkdir -p "$HERE/$CUR"
  echo "== $CUR"
  "gen_$CUR"
done

# labels.tsv: kept rows of the MTAs not regenerated, then the new ones
{
  if [[ -f $HERE/labels.tsv ]]; then
    tail -n +2 "$HERE/labels.tsv" | while IFS= read -r line; do
      keep=1
      for m in "${MTAS[@]}"; do [[ $line == "$m/"* ]] && keep=0; done
      if [[ $keep == 1 ]]; then printf '%s\n' "$line"; fi
    done
  fi
  for m in "${MTAS[@]}"; do cat "$WORK/labels-$m.tsv"; done
} >"$WORK/labels.tsv"
{ printf 'file\tkind\trecipient\tstatus\tsource\n'; LC_ALL=C sort "$WORK/labels.tsv"; } >"$HERE/labels.tsv.new"
mv "$HERE/labels.tsv.new" "$HERE/labels.tsv"
python3 "$TOOLS/check.py" "$HERE"
