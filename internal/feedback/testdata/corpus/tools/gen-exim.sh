# gen_exim: Debian's Exim (exim4-daemon-light), unpacked with apt-get download
# + dpkg -x into WORK (not installed: it would replace the system MTA), run
# as a foreground daemon (-bdf -q5s) on 127.0.0.1:2531 with tools/exim.conf.in;
# sourced by generate.sh. The one thing installed on the system is the
# library libidn12 the binary links to (re-executed Exim children lose
# LD_LIBRARY_PATH).
gen_exim() {
  local ex=$WORK/exim root=$WORK/exim/root out=$HERE/exim v src S=127.0.0.1:2531 pid
  mkdir -p "$ex"/{spool,log,mail,debs} "$root"
  (cd "$ex/debs" && apt-get download exim4-daemon-light >/dev/null)
  dpkg -x "$ex"/debs/exim4-daemon-light_*.deb "$root"
  if ! ldconfig -p | grep -q 'libidn\.so\.12 '; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libidn12 >/dev/null
  fi
  sed "s|@DIR@|$ex|g; s|@ROOT@|$root|g" "$TOOLS/exim.conf.in" >"$ex/exim.conf"
  cp /etc/passwd "$ex/passwd"; cp /etc/group "$ex/group"
  if ! getent passwd Debian-exim >/dev/null; then
    echo 'Debian-exim:x:1999:1999:Exim:/nonexistent:/usr/sbin/nologin' >>"$ex/passwd"
    echo 'Debian-exim:x:1999:' >>"$ex/group"
  fi
  local uid; uid=$(awk -F: '$1=="Debian-exim"{print $3}' "$ex/passwd")
  chown -R "$uid:$uid" "$ex/spool" "$ex/log"; chmod 777 "$ex/mail"
  v=$("$TOOLS/exim-run.sh" "$root" "$ex" -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p')
  src="exim $v (Debian exim4-daemon-light)"

  "$TOOLS/exim-run.sh" "$root" "$ex" -bdf -q5s >"$ex/daemon.out" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/2531) 2>/dev/null && break; sleep 0.2; done

  inject --server $S --from ex-unknown-local@sender.example --to No.Such.User@local.exim.test
  inject --server $S --from ex-rcpt550@sender.example --to J.Random.Hacker@users.example.net
  inject --server $S --from ex-rcpt552@sender.example --to mary.oneil@quota.example.org
  inject --server $S --from ex-data552@sender.example --to Bob@full.example.com
  inject --server $S --from ex-data554@sender.example --to ceo@filter.example.com --subject "Limited offer: 90% off"
  inject --server $S --from ex-disabled@sender.example --to old.employee@disabled.example.org
  inject --server $S --from ex-rcpt451@sender.example --to patient.user@slow.example.net
  inject --server $S --from ex-refused@sender.example --to someone@refused.example.com
  inject --server $S --from ex-multi@sender.example --to alice@users.example.net --to Bob.Jones@users.example.net --to carol+tag@users.example.net
  inject --server $S --from ex-mixed@sender.example --to dave@users.example.net --to erin@quota.example.org --to Unknown.Local@local.exim.test
  inject --server $S --from ex-relayed@sender.example --to 'henry@nodsn.example.net NOTIFY=SUCCESS ORCPT=rfc822;henry@nodsn.example.net'
  inject --server $S --from ex-delivered@sender.example --to 'alice@vmail.exim.test NOTIFY=SUCCESS,FAILURE'
  inject --server $S --from ex-envid@sender.example --mail-opt RET=HDRS --mail-opt ENVID=order-4711 \
    --to 'Ivan.Petrov@users.example.net NOTIFY=FAILURE,DELAY ORCPT=rfc822;Ivan.Petrov@users.example.net'
  inject --server $S --from ex-sizelimit@sender.example --to karen@small.example.net --body-bytes 5000
  inject --server $S --from ex-idn-utf8@sender.example --to 'müller@bücher.example' --utf8
  inject --server $S --from customer@example.com --to ex-plain@sender.example --subject "Re: Mail delivery failed"

  collect ex-unknown-local@sender.example 40 "$out/unknown-local-user-unrouteable.eml"
  row exim/unknown-local-user-unrouteable.eml dsn no.such.user@local.exim.test 5.0.0 "$src: unknown local user (check_local_user fails: Unrouteable address)"
  collect ex-rcpt550@sender.example 40 "$out/remote-rcpt-550-user-unknown.eml"
  row exim/remote-rcpt-550-user-unknown.eml dsn j.random.hacker@users.example.net 5.0.0 "$src: remote 550 5.1.1 user unknown at RCPT (Exim's Status is 5.0.0, the 5.1.1 is in Diagnostic-Code)"
  collect ex-rcpt552@sender.example 40 "$out/remote-rcpt-552-mailbox-full.eml"
  row exim/remote-rcpt-552-mailbox-full.eml dsn mary.oneil@quota.example.org 5.0.0 "$src: remote 552 5.2.2 mailbox full at RCPT (Status 5.0.0, 5.2.2 in Diagnostic-Code)"
  collect ex-data552@sender.example 40 "$out/remote-data-552-storage.eml"
  row exim/remote-data-552-storage.eml dsn bob@full.example.com 5.0.0 "$src: remote 552 5.2.2 exceeded storage allocation after DATA (Status 5.0.0)"
  collect ex-data554@sender.example 40 "$out/remote-data-554-policy.eml"
  row exim/remote-data-554-policy.eml dsn ceo@filter.example.com 5.0.0 "$src: remote 554 5.7.1 content policy rejection after DATA (Status 5.0.0)"
  collect ex-disabled@sender.example 40 "$out/remote-rcpt-550-mailbox-disabled.eml"
  row exim/remote-rcpt-550-mailbox-disabled.eml dsn old.employee@disabled.example.org 5.0.0 "$src: remote 550 5.2.1 mailbox disabled at RCPT (Status 5.0.0)"
  collect ex-multi@sender.example 40 "$out/multiple-recipients-550.eml"
  row exim/multiple-recipients-550.eml dsn "alice@users.example.net,bob.jones@users.example.net,carol+tag@users.example.net" "5.0.0,5.0.0,5.0.0" "$src: three recipients refused 550 5.1.1 in one transaction, one bounce"
  collect ex-mixed@sender.example 40 "$out/multiple-recipients-mixed.eml"
  row exim/multiple-recipients-mixed.eml dsn "dave@users.example.net,erin@quota.example.org,unknown.local@local.exim.test" "5.0.0,5.0.0,5.0.0" "$src: remote 550 5.1.1, remote 552 5.2.2 and an unrouteable local address, one bounce"
  collect ex-relayed@sender.example 40 "$out/notify-success-relayed.eml"
  row exim/notify-success-relayed.eml dsn henry@nodsn.example.net 2.0.0 "$src: NOTIFY=SUCCESS relayed to a server without DSN (Exim says action delivered)"
  collect ex-envid@sender.example 40 "$out/envid-orcpt-ret-hdrs-550.eml"
  row exim/envid-orcpt-ret-hdrs-550.eml dsn ivan.petrov@users.example.net 5.0.0 "$src: remote 550 5.1.1 with ENVID, ORCPT and RET=HDRS (Status 5.0.0)"
  collect ex-sizelimit@sender.example 40 "$out/message-size-exceeds-server-limit.eml"
  row exim/message-size-exceeds-server-limit.eml dsn karen@small.example.net 5.0.0 "$src: remote 552 5.3.4 at MAIL for SIZE over the server's SIZE 2000 (Status 5.0.0)"
  collect ex-idn-utf8@sender.example 40 "$out/smtputf8-idn-550.eml"
  row exim/smtputf8-idn-550.eml dsn "müller@bücher.example" 5.0.0 "$src: SMTPUTF8 message to a UTF-8 address at an IDN domain, remote 550 5.1.1 (Status 5.0.0)"
  collect ex-plain@sender.example 40 "$out/not-bounce-human-reply.eml"
  row exim/not-bounce-human-reply.eml not_bounce "" "" "$src: relayed ordinary message from a person, Subject 'Re: Mail delivery failed'"
  if collect ex-delivered@sender.example 40 "$out/notify-success-delivered.eml"; then
    row exim/notify-success-delivered.eml dsn alice@vmail.exim.test 2.0.0 "$src: NOTIFY=SUCCESS delivered to a local mailbox (action delivered)"
  fi
  collect ex-rcpt451@sender.example 180 "$out/delay-warning-451.eml" --contains "Subject: Warning: message"
  collect ex-rcpt451@sender.example 180 "$out/expired-451.eml" --contains "Subject: Mail delivery failed"
  row exim/delay-warning-451.eml dsn patient.user@slow.example.net 4.0.0 "$src: delay warning (delay_warning), remote 451 4.3.0 at RCPT"
  row exim/expired-451.eml dsn patient.user@slow.example.net 5.0.0 "$src: remote 451 4.3.0 at RCPT until the retry rule's cutoff (retry timeout exceeded)"
  collect ex-refused@sender.example 180 "$out/delay-warning-connection-refused.eml" --contains "Subject: Warning: message"
  collect ex-refused@sender.example 180 "$out/expired-connection-refused.eml" --contains "Subject: Mail delivery failed"
  row exim/delay-warning-connection-refused.eml dsn someone@refused.example.com 4.0.0 "$src: delay warning, connection refused by the next hop"
  row exim/expired-connection-refused.eml dsn someone@refused.example.com 5.0.0 "$src: connection refused until the retry rule's cutoff (retry timeout exceeded)"

  kill "$pid"; wait "$pid" 2>/dev/null || true
}
