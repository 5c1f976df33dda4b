# Parses a DSN with Python's standard email package only (an independent
# MIME parser) and prints what the Go test checks, as JSON.
import email
import email.policy
import json
import sys

with open(sys.argv[1], "rb") as f:
    msg = email.message_from_bytes(f.read(), policy=email.policy.default)

out = {
    "content_type": msg.get_content_type(),
    "report_type": msg.get_param("report-type"),
    "subject": str(msg["subject"]),
    "from": str(msg["from"]),
    "to": str(msg["to"]),
    "auto_submitted": str(msg["auto-submitted"]),
    "defects": [type(d).__name__ for d in msg.defects],
    "parts": [],
    "recipients": [],
    "per_message": {},
    "headers_part": "",
    "text_part": "",
}
for part in msg.iter_parts():
    ctype = part.get_content_type()
    out["parts"].append(ctype)
    out["defects"] += [type(d).__name__ for d in part.defects]
    if ctype == "message/delivery-status":
        # Python parses the blocks into sub-messages: first the
        # per-message fields, then one per recipient.
        blocks = part.get_payload()
        out["per_message"] = {k: str(v) for k, v in blocks[0].items()}
        for b in blocks[1:]:
            out["recipients"].append({k: str(v) for k, v in b.items()})
    elif ctype == "text/rfc822-headers":
        out["headers_part"] = part.get_content()
    elif ctype == "text/plain":
        out["text_part"] = part.get_content()

json.dump(out, sys.stdout)
