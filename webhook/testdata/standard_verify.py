#!/usr/bin/env python3
"""An independent Standard Webhooks verifier, written from the specification
(https://www.standardwebhooks.com/, "Signature scheme" and "Webhook headers"),
using only Python's standard library.

Usage: standard_verify.py SECRET ID TIMESTAMP SIGNATURES < BODY
SECRET is whsec_<base64 key>. Exits 0 when one v1 signature matches, 1 when
none does, 2 on bad input. Timestamp tolerance is the caller's business.
"""
import base64
import hashlib
import hmac
import sys


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    secret, msg_id, ts, sigs = sys.argv[1:]
    if not secret.startswith("whsec_"):
        print("secret must start with whsec_", file=sys.stderr)
        return 2
    key = base64.b64decode(secret[len("whsec_"):], validate=True)
    body = sys.stdin.buffer.read()
    mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()
    want = base64.b64encode(mac).decode()
    for s in sigs.split(" "):
        version, _, value = s.partition(",")
        if version == "v1" and hmac.compare_digest(value, want):
            return 0
    print("no v1 signature matches", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
