# gen_mtaq: mtaq itself (go build ./cmd/mtaq from this repository), relaying
# everything to the sink (relay = 127.0.0.1:2601, relay_tls = none), so its
# own DSNs (internal/dsn) reach the sink too; sourced by generate.sh.
gen_mtaq() {
  local mq=$WORK/mtaq out=$HERE/mtaq src S=127.0.0.1:2541 pid repo
  repo=$(cd "$HERE/../../../.." && pwd)
  mkdir -p "$mq/data"
  (cd "$repo" && go build -o "$mq/mtaq" ./cmd/mtaq)
  src="mtaq $(cd "$repo" && git rev-parse --short HEAD)"
  cat >"$mq/mtaq.toml" <<CF
hostname = "mta.mtaq.test"
data_dir = "$mq/data"
[submission]
listen = ["$S"]
trusted_networks = ["127.0.0.0/8"]
[delivery]
relay = "$SINK:2601"
relay_tls = "none"
[retry]
first = "2s"
max = "4s"
expire = "90s"
jitter = 0.0
[dsn]
enabled = true
delay_warning = "1m"
CF
  "$mq/mtaq" serve --config "$mq/mtaq.toml" >"$mq/mtaq.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/2541) 2>/dev/null && break; sleep 0.2; done

  inject --server $S --from mq-rcpt550@sender.example --to Jane.Doe+news@users.example.net
  inject --server $S --from mq-data554@sender.example --to ceo@filter.example.com --subject "Limited offer: 90% off"
  inject --server $S --from mq-disabled@sender.example --to old.employee@disabled.example.org
  inject --server $S --from mq-multi@sender.example --to alice@users.example.net --to Bob.Jones@users.example.net --to carol+tag@users.example.net
  inject --server $S --from mq-idn-utf8@sender.example --to 'müller@bücher.example' --utf8
  inject --server $S --from mq-idn-alabel@sender.example --to info@xn--bcher-kva.example
  inject --server $S --from mq-rcpt451@sender.example --to patient.user@slow.example.net
  inject --server $S --from mq-data552@sender.example --to Bob@full.example.com
  # no DSN scenarios (NOTIFY, RET, ENVID): mtaq's submission server does not offer DSN

  collect mq-rcpt550@sender.example 40 "$out/remote-rcpt-550-user-unknown.eml"
  row mtaq/remote-rcpt-550-user-unknown.eml dsn jane.doe+news@users.example.net 5.1.1 "$src: remote 550 5.1.1 user unknown at RCPT"
  collect mq-data554@sender.example 40 "$out/remote-data-554-policy.eml"
  row mtaq/remote-data-554-policy.eml dsn ceo@filter.example.com 5.7.1 "$src: remote 554 5.7.1 content policy rejection after DATA"
  collect mq-disabled@sender.example 40 "$out/remote-rcpt-550-mailbox-disabled.eml"
  row mtaq/remote-rcpt-550-mailbox-disabled.eml dsn old.employee@disabled.example.org 5.2.1 "$src: remote 550 5.2.1 mailbox disabled at RCPT"
  collect mq-multi@sender.example 40 "$out/multiple-recipients-550.eml"
  row mtaq/multiple-recipients-550.eml dsn "alice@users.example.net,bob.jones@users.example.net,carol+tag@users.example.net" "5.1.1,5.1.1,5.1.1" "$src: three recipients refused 550 5.1.1, one DSN"
  collect mq-idn-utf8@sender.example 40 "$out/smtputf8-idn-550.eml"
  row mtaq/smtputf8-idn-550.eml dsn "müller@bücher.example" 5.1.1 "$src: SMTPUTF8 message to a UTF-8 address at an IDN domain, remote 550 5.1.1"
  collect mq-idn-alabel@sender.example 40 "$out/idn-alabel-550.eml"
  row mtaq/idn-alabel-550.eml dsn info@xn--bcher-kva.example 5.1.1 "$src: ASCII address at an IDN domain in A-label form, remote 550 5.1.1"
  collect mq-rcpt451@sender.example 150 "$out/delay-warning-451.eml" --contains "delayed"
  collect mq-rcpt451@sender.example 150 "$out/expired-451.eml" --contains "Action: failed"
  row mtaq/delay-warning-451.eml dsn patient.user@slow.example.net 4.3.0 "$src: delay warning ([dsn] delay_warning = 1m), remote 451 4.3.0 at RCPT"
  row mtaq/expired-451.eml dsn patient.user@slow.example.net 5.3.0 "$src: remote 451 4.3.0 at RCPT until [retry] expire, failed (mtaq reports the class as 5: Status 5.3.0)"
  collect mq-data552@sender.example 150 "$out/expired-552-storage.eml" --contains "Action: failed"
  row mtaq/expired-552-storage.eml dsn bob@full.example.com 5.2.2 "$src: remote 552 5.2.2 after DATA (mailbox full is retried) until [retry] expire"

  kill "$pid"; wait "$pid" 2>/dev/null || true
}
