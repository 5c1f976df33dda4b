#!/usr/bin/env python3
"""Loopback SMTP sink for the bounce corpus generator.

It plays every remote server the MTAs under test talk to, and it captures
the bounces, delay warnings and auto-replies they send back: one process,
several listeners, behaviour chosen by the recipient's domain (DOMAINS
below) and, per listener, by what EHLO advertises.

    sink.py --dir DIR --listen 127.0.0.1:2601 [--listen 127.0.0.1:2602:nodsn]
            [--listen 127.0.0.1:2603:size=2000] [--dns 127.0.0.1] [--lifetime 1800]

Every message with a recipient in a capture domain is written to
DIR/NNNN.eml exactly as received (after the SMTP dot-unstuffing, without
the final "." line), with its envelope in DIR/NNNN.json. Only loopback
addresses are accepted for listeners. --dns answers every UDP query on
ADDR:53 with NXDOMAIN (for "host not found" bounces). The process exits by
itself after --lifetime seconds.
"""
import argparse, json, os, socket, struct, sys, threading, time

# recipient domain -> (reply to RCPT, reply at the end of DATA); None = 250
DOMAINS = {
    "sender.example": ("capture", None),            # senders: bounces land here
    "users.example.net": ("550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", None),
    "quota.example.org": ("552 5.2.2 <{rcpt}>: Recipient address rejected: Mailbox full, quota exceeded", None),
    "filter.example.com": (None, "554 5.7.1 Message rejected due to content restrictions (policy)"),
    "slow.example.net": ("451 4.3.0 <{rcpt}>: Temporary lookup failure, please try again later", None),
    "greylist.example.org": ("450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see http://postgrey.example/", None),
    "full.example.com": (None, "552 5.2.2 Requested mail action aborted: exceeded storage allocation"),
    "big.example.net": (None, "552 5.3.4 Message size exceeds fixed maximum message size"),
    "disabled.example.org": ("550 5.2.1 <{rcpt}>: Recipient address rejected: Mailbox disabled for this recipient", None),
    "bücher.example": ("550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown", None),
    "xn--bcher-kva.example": ("550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown", None),
}
DEFAULT = (None, None)  # any other domain: accepted and dropped

lock = threading.Lock()
counter = [0]


def behaviour(rcpt):
    dom = rcpt.rsplit("@", 1)[-1].lower().rstrip(">")
    return DOMAINS.get(dom, DEFAULT)


def loopback(host):
    return host.startswith("127.") or host == "::1"


def save(outdir, port, mail_from, rcpts, data):
    with lock:
        counter[0] += 1
        n = counter[0]
        base = os.path.join(outdir, "%d-%04d" % (port, n))
    with open(base + ".eml.tmp", "wb") as f:
        f.write(data)
    with open(base + ".json", "w") as f:
        json.dump({"mail_from": mail_from, "rcpts": rcpts, "port": port, "time": time.time()}, f)
    os.rename(base + ".eml.tmp", base + ".eml")


def session(conn, port, opts, outdir):
    f = conn.makefile("rb")
    def send(line):
        conn.sendall(line.encode("utf-8") + b"\r\n")
    send("220 mx.sink.example ESMTP sink")
    mail_from, rcpts = None, []
    while True:
        raw = f.readline(4096)
        if not raw:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        verb = line[:4].upper()
        if verb in ("EHLO", "HELO"):
            if verb == "HELO":
                send("250 mx.sink.example")
                continue
            caps = ["mx.sink.example", "PIPELINING", "SIZE %d" % opts.get("size", 52428800),
                    "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"]
            if opts.get("dsn", True):
                caps.append("DSN")
            for c in caps[:-1]:
                send("250-" + c)
            send("250 " + caps[-1])
        elif verb == "MAIL":
            mail_from, rcpts = line[5:].strip(), []
            size = [p for p in line.split() if p.upper().startswith("SIZE=")]
            if size and int(size[0][5:]) > opts.get("size", 52428800):
                send("552 5.3.4 Message size exceeds fixed limit")
                mail_from = None
                continue
            send("250 2.1.0 Ok")
        elif verb == "RCPT":
            if mail_from is None:
                send("503 5.5.1 Error: need MAIL command")
                continue
            arg = line[3:].split(":", 1)[1].strip()
            addr = arg.split()[0].strip("<>") if arg else ""
            rc, _ = behaviour(addr)
            if rc and rc != "capture":
                send(rc.format(rcpt=addr))
            else:
                rcpts.append(addr)
                send("250 2.1.5 Ok")
        elif verb == "DATA":
            if not rcpts:
                send("554 5.5.1 Error: no valid recipients")
                continue
            send("354 End data with <CR><LF>.<CR><LF>")
            chunks = []
            while True:
                l = f.readline(1 << 20)
                if not l:
                    return
                if l in (b".\r\n", b".\n"):
                    break
                if l.startswith(b"."):
                    l = l[1:]
                chunks.append(l)
            data = b"".join(chunks)
            reply = None
            for r in rcpts:
                _, dr = behaviour(r)
                reply = reply or dr
            if reply:
                send(reply)
            else:
                if any(behaviour(r)[0] == "capture" for r in rcpts):
                    save(outdir, port, mail_from, rcpts, data)
                send("250 2.0.0 Ok: queued")
            mail_from, rcpts = None, []
        elif verb == "RSET":
            mail_from, rcpts = None, []
            send("250 2.0.0 Ok")
        elif verb == "NOOP":
            send("250 2.0.0 Ok")
        elif verb == "QUIT":
            send("221 2.0.0 Bye")
            return
        elif verb == "VRFY":
            send("252 2.0.0 Cannot VRFY")
        else:
            send("502 5.5.2 Error: command not recognized")


def listener(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)
    return s


def serve(s, port, opts, outdir):
    while True:
        c, _ = s.accept()
        def run(c=c):
            try:
                c.settimeout(120)
                session(c, port, opts, outdir)
            except (OSError, ValueError):
                pass
            finally:
                c.close()
        threading.Thread(target=run, daemon=True).start()


def dns(s):
    """Answer every query with NXDOMAIN (RCODE 3), echoing the question."""
    while True:
        q, peer = s.recvfrom(4096)
        if len(q) < 12:
            continue
        qid, flags = struct.unpack("!HH", q[:4])
        # the question section: up to the end of the first QNAME + QTYPE/QCLASS
        i = 12
        while i < len(q) and q[i] != 0:
            i += q[i] + 1
        question = q[12:i + 5]
        rd = flags & 0x0100
        hdr = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | 3, 1, 0, 0, 0)
        s.sendto(hdr + question, peer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--listen", action="append", default=[])
    ap.add_argument("--dns")
    ap.add_argument("--lifetime", type=float, default=1800)
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    for spec in a.listen:
        parts = spec.split(":")
        host, port, opts = parts[0], int(parts[1]), {}
        for o in parts[2:]:
            if o == "nodsn":
                opts["dsn"] = False
            elif o.startswith("size="):
                opts["size"] = int(o[5:])
        if not loopback(host):
            sys.exit("sink: refusing non-loopback listener " + host)
        s = listener(host, port)
        threading.Thread(target=serve, args=(s, port, opts, a.dir), daemon=True).start()
    if a.dns:
        if not loopback(a.dns):
            sys.exit("sink: refusing non-loopback DNS listener " + a.dns)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind((a.dns, 53))
        threading.Thread(target=dns, args=(u,), daemon=True).start()
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    time.sleep(a.lifetime)


if __name__ == "__main__":
    main()
