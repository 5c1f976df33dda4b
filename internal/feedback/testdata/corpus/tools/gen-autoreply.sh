# gen_vacation and gen_sieve: RFC 3834-style auto-replies from Debian's
# vacation(1) and from Dovecot Pigeonhole's Sieve vacation extension (both
# unpacked with apt-get download + dpkg -x, not installed). Their replies are
# submitted to a private Postfix instance (tools/postfix.sh) that relays
# them to the sink, like a mail system would. Sourced by generate.sh.

# autoreply_prepare NAME: unpack PKG..., start Postfix; sets AR_ROOT, AR_PF
autoreply_prepare() {
  local name=$1 deb; shift
  AR_ROOT=$WORK/$name/root AR_PF=$WORK/$name/postfix
  mkdir -p "$AR_ROOT" "$WORK/$name/debs"
  (cd "$WORK/$name/debs" && apt-get download "$@" >/dev/null)
  for deb in "$WORK/$name"/debs/*.deb; do dpkg -x "$deb" "$AR_ROOT"; done
  "$TOOLS/postfix.sh" start "$AR_PF" >/dev/null
  STOPS+=("'$TOOLS/postfix.sh' stop '$AR_PF'")
}

# the message the auto-responders answer: to Jane Doe, from the shop
autoreply_original() { # FROM SUBJECT
  printf 'Return-Path: <%s>\nReceived: from mta.postfix.test (mta.postfix.test [127.0.0.1])\n\tby mx.corp.example with ESMTP id 4VZ1kQ3xY\n\tfor <jane.doe@corp.example>; %s\n' "$1" "$(date -R)"
  printf 'From: Example Shop <%s>\nTo: Jane Doe <jane.doe@corp.example>\nSubject: %s\nDate: %s\nMessage-ID: <%s.%s@app.sender.example>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nHello Jane,\n\nyour order 4711 has shipped.\n' \
    "$1" "$2" "$(date -R)" "$RANDOM" "$(date +%s)"
}

gen_vacation() {
  local out=$HERE/vacation v src d=$WORK/vacation
  autoreply_prepare vacation vacation
  v=$(dpkg-deb -f "$WORK"/vacation/debs/vacation_*.deb Version)
  src="vacation $v (Debian)"
  chmod 755 "$d"
  # vacation(1) calls /usr/sbin/sendmail: in a private mount namespace that
  # path is the shim, which submits to the private Postfix
  printf '#!/bin/sh\nexec python3 %s "$@"\n' "$TOOLS/sendmail-shim.py" >"$d/sendmail"
  chmod 755 "$d/sendmail"
  cat >"$d/en.msg" <<'MSG'
From: Jane Doe <jane.doe@corp.example>
Subject: Out of office: $SUBJECT
Precedence: bulk

I am out of the office until Monday, 14 December, with no access to email.
For urgent matters please contact my colleague John Smith
<john.smith@corp.example>.

Jane
MSG
  cat >"$d/de.msg" <<'MSG'
From: Jane Doe <jane.doe@corp.example>
Subject: Abwesenheitsnotiz: $SUBJECT
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Vielen Dank für Ihre Nachricht. Ich bin bis zum 14. Dezember nicht im Büro
und lese meine E-Mails nicht. In dringenden Fällen wenden Sie sich bitte an
john.smith@corp.example.

Jane Doe
MSG
  local n=0 msg zflag rcpt
  for spec in "en::vac-en@sender.example" "de:-z:vac-de@sender.example"; do
    IFS=: read -r msg zflag rcpt <<<"$spec"
    n=$((n + 1))
    autoreply_original "$rcpt" "Your order 4711 has shipped" >"$d/in-$n.eml"
    SHIM_SMTP=127.0.0.1:2521 unshare -m sh -c '
      mount --bind "$1" /usr/sbin/sendmail || exit 1
      shift; exec "$@"' sh "$d/sendmail" \
      "$AR_ROOT/usr/bin/vacation" $zflag -f "$d/vacation-$n.db" -m "$d/$msg.msg" -a jane.doe -r 0 nobody <"$d/in-$n.eml"
  done
  collect vac-en@sender.example 30 "$out/vacation-out-of-office-en.eml"
  row vacation/vacation-out-of-office-en.eml auto_reply "" "" "$src: vacation(1) reply (user's .vacation.msg with Precedence: bulk, no Auto-Submitted), submitted through Postfix"
  collect vac-de@sender.example 30 "$out/vacation-abwesenheitsnotiz-de-null-sender.eml"
  row vacation/vacation-abwesenheitsnotiz-de-null-sender.eml auto_reply "" "" "$src: vacation -z (null envelope sender), German UTF-8 text without Precedence or Auto-Submitted, submitted through Postfix"
  "$TOOLS/postfix.sh" stop "$AR_PF"
}

gen_sieve() {
  local out=$HERE/sieve v src d=$WORK/sieve
  autoreply_prepare sieve dovecot-core dovecot-sieve
  v=$(dpkg-deb -f "$WORK"/sieve/debs/dovecot-sieve_*.deb Version)
  src="dovecot-sieve $v (Pigeonhole)"
  mkdir -p "$d/run" "$d/Maildir"; chmod 755 "$d"; chown -R nobody:nogroup "$d/run" "$d/Maildir"
  cat >"$d/dovecot.conf" <<CF
base_dir = $d/run
mail_location = maildir:$d/Maildir
postmaster_address = postmaster@corp.example
hostname = mx.corp.example
protocols =
ssl = no
mail_uid = nobody
mail_gid = nogroup
default_login_user = nobody
default_internal_user = nobody
default_internal_group = nogroup
CF
  cat >"$d/plain.sieve" <<'SV'
require ["vacation"];
vacation :days 1 :subject "Out of office" :addresses ["jane.doe@corp.example"]
  "I am out of the office until Monday, 14 December. For urgent matters please contact john.smith@corp.example.";
SV
  cat >"$d/default-subject.sieve" <<'SV'
require ["vacation", "fileinto"];
vacation :days 7 :from "Jane Doe <jane.doe@corp.example>" :addresses ["jane.doe@corp.example"]
  "Ich bin bis zum 14. Dezember nicht im Büro. Ihre Nachricht wird nicht weitergeleitet.";
SV
  cat >"$d/mime.sieve" <<'SV'
require ["vacation"];
vacation :days 1 :mime :addresses ["jane.doe@corp.example"] text:
Content-Type: multipart/alternative; boundary="AA"

--AA
Content-Type: text/plain; charset=utf-8

I'm on parental leave until March. Your mail will not be forwarded.
--AA
Content-Type: text/html; charset=utf-8

<p>I'm on parental leave until March. Your mail will not be forwarded.</p>
--AA--
.
;
SV
  chmod 644 "$d"/*.sieve "$d/dovecot.conf"
  local s rcpt
  for s in plain default-subject mime; do
    rcpt=sieve-$s@sender.example
    autoreply_original "$rcpt" "Your order 4711 has shipped" >"$d/in-$s.eml"; chmod 644 "$d/in-$s.eml"
    # sieve-test -e prints the reply it would send on stdout after
    # "sending message from <...>:"; that text goes to the shim as is
    setpriv --reuid nobody --regid nogroup --clear-groups env HOME="$d/run" USER=nobody \
      LD_LIBRARY_PATH="$AR_ROOT/usr/lib/dovecot" \
      "$AR_ROOT/usr/bin/doveconf" -c "$d/dovecot.conf" -e "$AR_ROOT/usr/bin/sieve-test" \
      -e -t - -a jane.doe@corp.example -r jane.doe@corp.example -f "$rcpt" \
      "$d/$s.sieve" "$d/in-$s.eml" >"$d/out-$s.txt" 2>&1
    python3 - "$d/out-$s.txt" "$d/reply-$s.eml" <<'PY'
import re, sys
t = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"Info: sending message from <[^>]*>:\n(.*?)\n(?:sieve-test\(|info: )", t, re.S)
if not m:
    sys.exit("no reply in sieve-test output:\n" + t)
open(sys.argv[2], "w", encoding="utf-8").write(m.group(1) + "\n")
PY
    SHIM_SMTP=127.0.0.1:2521 python3 "$TOOLS/sendmail-shim.py" -f "<>" -- "$rcpt" <"$d/reply-$s.eml"
  done
  collect sieve-plain@sender.example 30 "$out/sieve-vacation-plain.eml"
  row sieve/sieve-vacation-plain.eml auto_reply "" "" "$src: Sieve vacation with :subject (Auto-Submitted: auto-replied (vacation)), null sender, submitted through Postfix"
  collect sieve-default-subject@sender.example 30 "$out/sieve-vacation-default-subject.eml"
  row sieve/sieve-vacation-default-subject.eml auto_reply "" "" "$src: Sieve vacation with :from and the default subject (Auto: ...), German UTF-8 text"
  collect sieve-mime@sender.example 30 "$out/sieve-vacation-mime-multipart.eml"
  row sieve/sieve-vacation-mime-multipart.eml auto_reply "" "" "$src: Sieve vacation :mime with a multipart/alternative reply"
  "$TOOLS/postfix.sh" stop "$AR_PF"
}
