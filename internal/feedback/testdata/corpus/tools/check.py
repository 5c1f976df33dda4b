#!/usr/bin/env python3
"""Check labels.tsv against the corpus: every row names an existing file,
a known kind, and (for dsn rows) each recipient and status appears in the
file; every .eml file has a row. Exit 1 listing every problem."""
import os, re, sys

root = sys.argv[1]
kinds = {"dsn", "complaint", "auto_reply", "not_bounce"}
problems, seen = [], set()
lines = open(os.path.join(root, "labels.tsv"), encoding="utf-8").read().splitlines()
if lines[0].split("\t") != ["file", "kind", "recipient", "status", "source"]:
    problems.append("labels.tsv: bad header")
for n, line in enumerate(lines[1:], 2):
    f = line.split("\t")
    if len(f) != 5:
        problems.append("labels.tsv:%d: %d columns" % (n, len(f)))
        continue
    name, kind, rcpt, status, source = f
    seen.add(name)
    path = os.path.join(root, name)
    if not os.path.isfile(path):
        problems.append("labels.tsv:%d: %s missing" % (n, name))
        continue
    if kind not in kinds:
        problems.append("labels.tsv:%d: kind %r" % (n, kind))
    if not source:
        problems.append("labels.tsv:%d: no source" % n)
    if rcpt != rcpt.lower():
        problems.append("labels.tsv:%d: recipient not lower case" % n)
    text = open(path, "rb").read().decode("utf-8", "replace").lower()
    rcpts = [r for r in rcpt.split(",") if r]
    stats = [s for s in status.split(",") if s]
    if kind == "dsn" and len(rcpts) != len(stats):
        problems.append("labels.tsv:%d: %d recipients, %d statuses" % (n, len(rcpts), len(stats)))
    for r in rcpts:
        if r not in text and r.split("@")[0] not in text:
            problems.append("labels.tsv:%d: %s does not name %s" % (n, name, r))
    fields = re.findall(r"(?m)^status:\s*([245]\.\d{1,3}\.\d{1,3})", text)
    for s in stats:
        if fields and s not in fields:
            problems.append("labels.tsv:%d: %s: status %s is not one of its Status fields %s" % (n, name, s, sorted(set(fields))))
        elif s not in text:
            problems.append("labels.tsv:%d: %s does not contain status %s" % (n, name, s))
for dirpath, _, files in os.walk(root):
    for fn in files:
        if fn.endswith(".eml"):
            rel = os.path.relpath(os.path.join(dirpath, fn), root)
            if rel not in seen:
                problems.append("%s has no row in labels.tsv" % rel)
for p in problems:
    print(p)
print("check: %d rows, %d problems" % (len(lines) - 1, len(problems)))
sys.exit(1 if problems else 0)
