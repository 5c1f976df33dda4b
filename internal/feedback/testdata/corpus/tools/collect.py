#!/usr/bin/env python3
"""Wait for messages the sink captured and copy them, in arrival order.

    collect.py CAPDIR RCPT TIMEOUT OUT [OUT...] [--contains TEXT]

Waits until at least len(OUT) captured messages whose envelope recipients
include RCPT (and, with --contains, whose bytes contain TEXT) exist, then
copies the first len(OUT) of them byte for byte to OUT... Exit 1 on timeout.
"""
import glob, json, os, shutil, sys, time

args = sys.argv[1:]
contains = None
if "--contains" in args:
    i = args.index("--contains")
    contains = args[i + 1].encode()
    del args[i:i + 2]
capdir, rcpt, timeout, outs = args[0], args[1].lower(), float(args[2]), args[3:]
deadline = time.time() + timeout
while True:
    found = []
    for j in glob.glob(os.path.join(capdir, "*.json")):
        env = json.load(open(j))
        eml = j[:-5] + ".eml"
        if not os.path.exists(eml) or rcpt not in [r.lower() for r in env["rcpts"]]:
            continue
        if contains and contains not in open(eml, "rb").read():
            continue
        found.append((env["time"], eml))
    found.sort()
    if len(found) >= len(outs):
        for (_, src), dst in zip(found, outs):
            os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
            shutil.copyfile(src, dst)
            print("collected", dst)
        sys.exit(0)
    if time.time() > deadline:
        sys.exit("collect: timeout waiting for %d message(s) to %s, have %d" % (len(outs), rcpt, len(found)))
    time.sleep(0.5)
