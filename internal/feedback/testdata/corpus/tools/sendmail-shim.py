#!/usr/bin/env python3
"""A sendmail(1) stand-in for the auto-responders: reads the message on
stdin and submits it unchanged over SMTP to $SHIM_SMTP (a loopback
host:port, the private Postfix instance), with the envelope sender from -f
("" or "<>" for the null sender) and the recipients from the arguments.

    sendmail-shim.py [-f SENDER] [-oi ...] [--] RCPT...
"""
import os, smtplib, sys

args, sender, rcpts = sys.argv[1:], None, []
i = 0
while i < len(args):
    a = args[i]
    if a == "--":
        rcpts += args[i + 1:]
        break
    if a == "-f":
        sender = args[i + 1]; i += 2; continue
    if a.startswith("-f") and len(a) > 2:
        sender = a[2:]
    elif not a.startswith("-"):
        rcpts.append(a)
    i += 1
host, port = os.environ["SHIM_SMTP"].rsplit(":", 1)
if not host.startswith("127."):
    sys.exit("sendmail-shim: refusing non-loopback " + host)
data = sys.stdin.buffer.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
sender = "" if sender in (None, "<>") else sender
s = smtplib.SMTP(host, int(port), timeout=30)
s.sendmail(sender, rcpts, data)
s.quit()
