# gen_postfix: Debian's Postfix as a private instance (tools/postfix.sh),
# relaying to the sink; sourced by generate.sh (uses WORK, CAP, TOOLS, row,
# inject, collect, STOPS).
gen_postfix() {
  local pf=$WORK/postfix out=$HERE/postfix v src S=127.0.0.1:2521
  v=$(postconf -d -h mail_version)
  src="postfix $v"
  "$TOOLS/postfix.sh" start "$pf"
  STOPS+=("'$TOOLS/postfix.sh' stop '$pf'")

  # a postmaster copy of every bounce and delay notice goes to postmaster@sender.example
  postconf -c "$pf/etc" -e notify_classes=bounce,delay,resource,software \
    bounce_notice_recipient=postmaster@sender.example delay_notice_recipient=postmaster@sender.example
  postfix -c "$pf/etc" reload >/dev/null 2>&1; sleep 1

  inject --server $S --from pf-unknown-local@sender.example --to John.Smith@local.postfix.test
  inject --server $S --from pf-unknown-virtual@sender.example --to no.such.user@vmail.postfix.test
  inject --server $S --from pf-rcpt550@sender.example --to Jane.Doe+news@users.example.net
  inject --server $S --from pf-rcpt552@sender.example --to mary.oneil@quota.example.org
  inject --server $S --from pf-data552@sender.example --to Bob@full.example.com
  inject --server $S --from pf-data554@sender.example --to ceo@filter.example.com --subject "Limited offer: 90% off"
  inject --server $S --from pf-rcpt451@sender.example --to patient.user@slow.example.net
  inject --server $S --from pf-refused@sender.example --to someone@refused.example.com
  inject --server $S --from pf-greylist@sender.example --to 'Greg.Lister@greylist.example.org NOTIFY=FAILURE'
  inject --server $S --from pf-multi@sender.example --to alice@users.example.net --to Bob.Jones@users.example.net --to carol+tag@users.example.net
  inject --server $S --from pf-mixed@sender.example --to dave@users.example.net --to erin@quota.example.org --to frank@filter.example.com
  inject --server $S --from pf-relayed@sender.example --to 'henry@nodsn.example.net NOTIFY=SUCCESS ORCPT=rfc822;henry@nodsn.example.net'
  inject --server $S --from pf-delivered@sender.example --to 'alice@vmail.postfix.test NOTIFY=SUCCESS,FAILURE'
  inject --server $S --from pf-envid@sender.example --mail-opt RET=HDRS --mail-opt ENVID=order-4711 \
    --to 'Ivan.Petrov@users.example.net NOTIFY=FAILURE,DELAY ORCPT=rfc822;Ivan.Petrov@users.example.net'
  inject --server $S --from pf-nxdomain@sender.example --to info@nxdomain.example
  inject --server $S --from pf-sizelimit@sender.example --to karen@small.example.net --body-bytes 5000
  inject --server $S --from pf-data552size@sender.example --to larry@big.example.net --body-bytes 3000
  inject --server $S --from pf-loop@sender.example --to postmaster@loop.example.org
  inject --server $S --from pf-disabled@sender.example --to old.employee@disabled.example.org
  inject --server $S --from pf-idn-utf8@sender.example --to 'müller@bücher.example' --utf8
  inject --server $S --from pf-idn-alabel@sender.example --to info@xn--bcher-kva.example
  inject --server $S --from customer@example.com --to pf-human@sender.example \
    --subject "Re: Undelivered Mail Returned to Sender"
  inject --server $S --from customer@example.com --to pf-plain@sender.example --subject "Question about my order"

  collect pf-unknown-local@sender.example 30 "$out/unknown-local-user.eml"
  row postfix/unknown-local-user.eml dsn john.smith@local.postfix.test 5.1.1 "$src: unknown local user (local(8), no such account), mixed-case address"
  collect pf-unknown-virtual@sender.example 30 "$out/unknown-virtual-user.eml"
  row postfix/unknown-virtual-user.eml dsn no.such.user@vmail.postfix.test 5.1.1 "$src: unknown user in virtual mailbox table (accepted, bounced by qmgr)"
  collect pf-rcpt550@sender.example 30 "$out/remote-rcpt-550-user-unknown.eml"
  row postfix/remote-rcpt-550-user-unknown.eml dsn jane.doe+news@users.example.net 5.1.1 "$src: remote 550 5.1.1 user unknown at RCPT"
  collect pf-rcpt552@sender.example 30 "$out/remote-rcpt-552-mailbox-full.eml"
  row postfix/remote-rcpt-552-mailbox-full.eml dsn mary.oneil@quota.example.org 5.2.2 "$src: remote 552 5.2.2 mailbox full at RCPT"
  collect pf-data552@sender.example 30 "$out/remote-data-552-storage.eml"
  row postfix/remote-data-552-storage.eml dsn bob@full.example.com 5.2.2 "$src: remote 552 5.2.2 exceeded storage allocation after DATA"
  collect pf-data554@sender.example 30 "$out/remote-data-554-policy.eml"
  row postfix/remote-data-554-policy.eml dsn ceo@filter.example.com 5.7.1 "$src: remote 554 5.7.1 content policy rejection after DATA"
  collect pf-disabled@sender.example 30 "$out/remote-rcpt-550-mailbox-disabled.eml"
  row postfix/remote-rcpt-550-mailbox-disabled.eml dsn old.employee@disabled.example.org 5.2.1 "$src: remote 550 5.2.1 mailbox disabled at RCPT"
  collect pf-multi@sender.example 30 "$out/multiple-recipients-550.eml"
  row postfix/multiple-recipients-550.eml dsn "alice@users.example.net,bob.jones@users.example.net,carol+tag@users.example.net" "5.1.1,5.1.1,5.1.1" "$src: three recipients refused 550 5.1.1 in one transaction, one DSN"
  collect pf-mixed@sender.example 30 "$out/multiple-recipients-mixed.eml"
  row postfix/multiple-recipients-mixed.eml dsn "dave@users.example.net,erin@quota.example.org,frank@filter.example.com" "5.1.1,5.2.2,5.7.1" "$src: three recipients, 550 5.1.1 and 552 5.2.2 at RCPT and 554 5.7.1 after DATA, one DSN"
  collect pf-relayed@sender.example 30 "$out/notify-success-relayed.eml"
  row postfix/notify-success-relayed.eml dsn henry@nodsn.example.net 2.0.0 "$src: NOTIFY=SUCCESS relayed to a server without DSN (action relayed, Subject: Successful Mail Delivery Report)"
  collect pf-delivered@sender.example 30 "$out/notify-success-delivered.eml"
  row postfix/notify-success-delivered.eml dsn alice@vmail.postfix.test 2.0.0 "$src: NOTIFY=SUCCESS delivered to a virtual mailbox (action delivered)"
  collect pf-envid@sender.example 30 "$out/envid-orcpt-ret-hdrs-550.eml"
  row postfix/envid-orcpt-ret-hdrs-550.eml dsn ivan.petrov@users.example.net 5.1.1 "$src: remote 550 5.1.1 with ENVID, ORCPT and RET=HDRS (headers only returned)"
  collect pf-nxdomain@sender.example 30 "$out/domain-not-found.eml"
  row postfix/domain-not-found.eml dsn info@nxdomain.example 5.4.4 "$src: recipient domain NXDOMAIN (host not found, loopback DNS answering NXDOMAIN)"
  collect pf-sizelimit@sender.example 30 "$out/message-size-exceeds-server-limit.eml"
  row postfix/message-size-exceeds-server-limit.eml dsn karen@small.example.net 5.3.4 "$src: message larger than the remote server's SIZE 2000 (not sent)"
  collect pf-data552size@sender.example 30 "$out/remote-data-552-too-big.eml"
  row postfix/remote-data-552-too-big.eml dsn larry@big.example.net 5.3.4 "$src: remote 552 5.3.4 message size exceeds maximum after DATA"
  collect pf-loop@sender.example 30 "$out/mail-loop-too-many-hops.eml"
  row postfix/mail-loop-too-many-hops.eml dsn postmaster@loop.example.org 5.4.0 "$src: transport loops back to this Postfix itself, bounced at hopcount_limit (554 5.4.0 too many hops)"
  collect pf-idn-utf8@sender.example 30 "$out/smtputf8-idn-550.eml"
  row postfix/smtputf8-idn-550.eml dsn "müller@bücher.example" 5.1.1 "$src: SMTPUTF8 message to a UTF-8 address at an IDN domain, remote 550 5.1.1"
  collect pf-idn-alabel@sender.example 30 "$out/idn-alabel-550.eml"
  row postfix/idn-alabel-550.eml dsn info@xn--bcher-kva.example 5.1.1 "$src: ASCII address at an IDN domain in A-label form, remote 550 5.1.1"
  collect postmaster@sender.example 30 "$out/postmaster-copy-550.eml" --contains "pf-rcpt550@sender.example"
  row postfix/postmaster-copy-550.eml dsn jane.doe+news@users.example.net 5.1.1 "$src: postmaster copy of a bounce (notify_classes=bounce; Subject: Postmaster Copy: Undelivered Mail)"
  collect pf-human@sender.example 30 "$out/not-bounce-human-reply.eml"
  row postfix/not-bounce-human-reply.eml not_bounce "" "" "$src: relayed ordinary message from a person, Subject 'Re: Undelivered Mail Returned to Sender'"
  collect pf-plain@sender.example 30 "$out/not-bounce-plain.eml"
  row postfix/not-bounce-plain.eml not_bounce "" "" "$src: relayed ordinary message from a customer"

  # deferred until expiry (maximal_queue_lifetime=40s, delay_warning_time=10s)
  collect pf-rcpt451@sender.example 150 "$out/delay-warning-451.eml" "$out/expired-451.eml"
  row postfix/delay-warning-451.eml dsn patient.user@slow.example.net 4.3.0 "$src: delay warning (delay_warning_time), remote 451 4.3.0 at RCPT"
  row postfix/expired-451.eml dsn patient.user@slow.example.net 4.3.0 "$src: remote 451 4.3.0 at RCPT until maximal_queue_lifetime, failed with the 4.x.x status"
  collect pf-refused@sender.example 150 "$out/delay-warning-connection-refused.eml" "$out/expired-connection-refused.eml"
  row postfix/delay-warning-connection-refused.eml dsn someone@refused.example.com 4.4.1 "$src: delay warning, connection refused by the next hop"
  row postfix/expired-connection-refused.eml dsn someone@refused.example.com 4.4.1 "$src: connection refused until maximal_queue_lifetime, failed 4.4.1"
  collect pf-greylist@sender.example 150 "$out/expired-450-greylisted-notify-failure.eml"
  row postfix/expired-450-greylisted-notify-failure.eml dsn greg.lister@greylist.example.org 4.2.0 "$src: remote 450 4.2.0 greylisted until expiry, NOTIFY=FAILURE (no delay warning)"
  collect postmaster@sender.example 150 "$out/postmaster-copy-delay.eml" --contains "pf-rcpt451@sender.example"
  row postfix/postmaster-copy-delay.eml dsn patient.user@slow.example.net 4.3.0 "$src: postmaster copy of a delay notice (notify_classes=delay)"

  "$TOOLS/postfix.sh" stop "$pf"
}
