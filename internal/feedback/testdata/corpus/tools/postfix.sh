#!/usr/bin/env bash
# postfix.sh start|stop DIR - a private Postfix instance for the corpus:
# config_directory DIR/etc, queue DIR/spool, listening on $PF_LISTEN
# (127.0.0.1:2521), all mail relayed to the loopback sink (sink.py) at
# $SINK_HOST ports 2601 (DSN offered), 2602 (no DSN), 2603 (SIZE 2000).
# It never touches /etc/postfix or the system instance; stop is
# `postfix -c DIR/etc stop` and then a wait on the master's PID.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
cmd=$1 dir=$2
PF_LISTEN=${PF_LISTEN:-127.0.0.1:2521}
SINK_HOST=${SINK_HOST:-127.0.0.1}
DNS_HOST=${DNS_HOST:-127.0.0.53}

master_pid() { local f=$dir/spool/pid/master.pid; [[ -f $f ]] && tr -d ' \n' <"$f"; }

case $cmd in
start)
  mkdir -p "$dir/etc" "$dir/spool/etc" "$dir/data" "$dir/vmail"
  chown postfix "$dir/data"; chown nobody:nogroup "$dir/vmail"
  # the chrooted "dnssmtp" transport reads this resolv.conf: the sink's NXDOMAIN server
  echo "nameserver $DNS_HOST" >"$dir/spool/etc/resolv.conf"
  cat >"$dir/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.postfix.test
mydomain = postfix.test
myorigin = \$mydomain
mydestination = \$myhostname, local.postfix.test
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = vmail.postfix.test
virtual_mailbox_base = $dir/vmail
virtual_mailbox_maps = inline:{ alice@vmail.postfix.test=alice/ }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
smtpd_reject_unlisted_recipient = no
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [$SINK_HOST]:2601
transport_maps = inline:{ nodsn.example.net=smtp:[$SINK_HOST]:2602, small.example.net=smtp:[$SINK_HOST]:2603, refused.example.com=smtp:[$SINK_HOST]:2609, loop.example.org=smtp:[${PF_LISTEN%:*}]:${PF_LISTEN##*:}, nxdomain.example=dnssmtp:, nonexistent.invalid=dnssmtp: }
smtputf8_enable = yes
biff = no
append_dot_mydomain = no
# short lifetimes so that "deferred until expiry" and delay warnings happen in seconds
queue_run_delay = 3s
minimal_backoff_time = 3s
maximal_backoff_time = 6s
maximal_queue_lifetime = 40s
bounce_queue_lifetime = 40s
delay_warning_time = 10s
smtp_connect_timeout = 5s
CF
  cat >"$dir/etc/master.cf" <<CF
$PF_LISTEN inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
dnssmtp   unix  - - y - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
  script -qec "postfix -c $dir/etc check" /dev/null || { echo "postfix check failed" >&2; exit 1; }
  postfix -c "$dir/etc" start
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/${PF_LISTEN%:*}/${PF_LISTEN##*:}") 2>/dev/null && break; sleep 0.1
  done
  echo "postfix master $(master_pid) on $PF_LISTEN"
  ;;
stop)
  pid=$(master_pid || true)
  [[ -n ${pid:-} ]] || exit 0
  postfix -c "$dir/etc" stop || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then postfix -c "$dir/etc" abort || true; sleep 1; fi
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  ;;
*) echo "usage: postfix.sh start|stop DIR" >&2; exit 2 ;;
esac
