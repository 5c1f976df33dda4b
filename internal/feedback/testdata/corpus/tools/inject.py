#!/usr/bin/env python3
"""Submit one test message over SMTP (loopback only) with DSN parameters.

    inject.py --server 127.0.0.21:2525 --from a@sender.example \
        --to 'x@users.example.net' --to 'y@vmail.test NOTIFY=SUCCESS ORCPT=rfc822;y@vmail.test' \
        [--mail-opt RET=HDRS --mail-opt ENVID=abc] [--subject S] [--body-bytes N] [--utf8]

Each --to is the address followed by its RCPT parameters. Exits non-zero
unless the server accepted the message for at least one recipient.
"""
import argparse, email.utils, smtplib, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--server", required=True)
ap.add_argument("--from", dest="sender", required=True)
ap.add_argument("--to", action="append", required=True)
ap.add_argument("--mail-opt", action="append", default=[])
ap.add_argument("--subject", default="Your order confirmation")
ap.add_argument("--body-bytes", type=int, default=0)
ap.add_argument("--utf8", action="store_true")
ap.add_argument("--header", action="append", default=[])
ap.add_argument("--msgid-domain", default="app.sender.example")
a = ap.parse_args()

host, port = a.server.rsplit(":", 1)
if not host.startswith("127."):
    sys.exit("inject: refusing non-loopback server " + host)
rcpts = [(t.split()[0], t.split()[1:]) for t in a.to]
body = ("Hello,\r\n\r\nthank you for your order. This message was sent by the bounce corpus\r\n"
        "generator of mtaq to an address that is meant to fail.\r\n\r\n-- \r\nThe shop\r\n")
if a.body_bytes:
    line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n"
    while len(body) < a.body_bytes:
        body += line
hdrs = ["From: Example Shop <%s>" % a.sender,
        "To: " + ", ".join(r for r, _ in rcpts),
        "Subject: " + a.subject,
        "Date: " + email.utils.formatdate(localtime=False),
        "Message-ID: " + email.utils.make_msgid(domain=a.msgid_domain),
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit"] + a.header
msg = ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode("utf-8")

s = smtplib.SMTP(host, int(port), timeout=30)
s.ehlo("client.sender.example")
mopts = list(a.mail_opt)
if a.utf8:
    s.command_encoding = "utf-8"
    mopts.append("SMTPUTF8")
if any(o.upper().startswith("RET=") or o.upper().startswith("ENVID=") for o in mopts) and not s.has_extn("dsn"):
    sys.exit("inject: server has no DSN extension")
code, resp = s.mail(a.sender, mopts + ["BODY=8BITMIME"])
if code != 250:
    sys.exit("inject: MAIL: %d %s" % (code, resp))
ok = 0
for r, opts in rcpts:
    code, resp = s.rcpt(r, opts)
    print("RCPT %s: %d %s" % (r, code, resp.decode("utf-8", "replace")))
    ok += code in (250, 251)
if not ok:
    sys.exit("inject: no recipient accepted")
code, resp = s.data(msg)
print("DATA: %d %s" % (code, resp.decode("utf-8", "replace")))
s.quit()
sys.exit(0 if code == 250 else 1)
