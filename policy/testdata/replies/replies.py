#!/usr/bin/env python3
"""Maintains the provider reply corpus (README.md beside this file).

  replies.py check BATCH.jsonl     validate a batch's rows and find duplicates
                                   of any corpus row (prints batch line numbers
                                   only, never a held-back row)
  replies.py measure BATCH...      split batches (batches/NAME.jsonl) by the
                                   hash and measure both parts with the current
                                   classifier; MISSES=1 lists the development
                                   part's misses (the held-back part's never)
  replies.py append BATCH...       append batches to dev.jsonl / heldback.jsonl
                                   by the hash, dropping duplicates

The split rule and the duplicate key are those of policy/replies_split_test.go.
"""
import glob, hashlib, json, os, re, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
SHARED = os.path.join(REPO, '..', 'shared', 'bounce-corpus', 'dev.jsonl')
DEV, HELD = os.path.join(HERE, 'dev.jsonl'), os.path.join(HERE, 'heldback.jsonl')
CATS = set('user_unknown mailbox_full mailbox_disabled domain_not_found invalid_sender blocked_reputation '
           'spam_content policy_rejected auth_failure reverse_dns rate_limited greylisting message_too_large '
           'relay_denied syntax_error network_error system_error unclassified'.split())
ADDR = re.compile(r'[a-z0-9._%+=-]+@[a-z0-9.-]+')
IP6 = re.compile(r'\[?[0-9a-f]{0,4}(:[0-9a-f]{0,4}){2,7}\]?')
NUM, WS = re.compile(r'[0-9]+'), re.compile(r'\s+')
ENH = re.compile(r'^[245]\.[0-9]{1,3}\.[0-9]{1,3}$')


def norm(s):
    s = NUM.sub('0', IP6.sub('<ip6>', ADDR.sub('<addr>', s.lower())))
    return WS.sub(' ', s).strip().rstrip(' .;,')


def key(r):
    return (r['code'], r['enhanced'], norm(r['text']))


def held(r):
    return hashlib.sha256(('%d|%s|%s' % (r['code'], r['enhanced'], r['text'])).encode()).digest()[0] % 5 == 0


def rows(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(l) for l in f if l.strip()]


def batch(name):
    return name if name.endswith('.jsonl') else os.path.join(HERE, 'batches', name + '.jsonl')


def check(path):
    target = os.path.abspath(path)
    seen = set()
    for p in [SHARED, DEV, HELD] + sorted(glob.glob(os.path.join(HERE, 'batches', '*.jsonl'))):
        if os.path.abspath(p) != target and os.path.exists(p):
            seen.update(key(r) for r in rows(p))
    bad, mine = 0, {}
    with open(path, encoding='utf-8') as f:
        for n, l in enumerate(f, 1):
            if not l.strip():
                continue
            try:
                r = json.loads(l)
            except ValueError as e:
                print(f'line {n}: bad JSON: {e}'); bad += 1; continue
            missing = [k for k in ('code', 'enhanced', 'text', 'class', 'category', 'source') if k not in r]
            if missing:
                print(f'line {n}: missing {missing}'); bad += 1; continue
            problems = []
            if not isinstance(r['code'], int) or not 400 <= r['code'] < 600:
                problems.append('code must be 4xx or 5xx')
            if r['enhanced'] and not ENH.match(r['enhanced']):
                problems.append('bad enhanced code')
            if r['category'] not in CATS:
                problems.append('unknown category ' + str(r['category']))
            want = 'soft' if r['code'] < 500 or r['category'] in ('message_too_large', 'mailbox_full') else 'hard'
            if r['class'] != want:
                problems.append('class should be ' + want)
            if not r['text'].strip() or not r['source'].strip():
                problems.append('empty text or source')
            k = key(r)
            if k in seen:
                problems.append('duplicate of a row in another corpus file')
            if k in mine:
                problems.append(f'duplicate of line {mine[k]}')
            mine.setdefault(k, n)
            for p in problems:
                print(f'line {n}: {p}')
            bad += len(problems)
    print(f'{len(mine)} rows, {bad} problems')
    return bad == 0


def measure(names):
    d = tempfile.mkdtemp(prefix='replies-')
    parts = {'dev': [], 'held': []}
    for name in names:
        for r in rows(batch(name)):
            parts['held' if held(r) else 'dev'].append(r)
    paths = []
    for part in ('dev', 'held'):
        # "heldback" in the name keeps the test from printing its rows.
        p = os.path.join(d, 'batches.' + ('heldback' if part == 'held' else 'dev') + '.jsonl')
        with open(p, 'w', encoding='utf-8') as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + '\n' for r in parts[part])
        paths.append(p)
    env = dict(os.environ, MTAQ_REPLIES=','.join(paths))
    if os.environ.get('MISSES'):
        env['MTAQ_CLASSIFIER_MISSES'] = '1'  # the test never prints a held-back file's rows
    out = subprocess.run(['go', 'test', '-count=1', '-run', '^TestReplyAccuracy$', '-v', '.'],
                         cwd=os.path.join(REPO, 'policy'), env=env, capture_output=True, text=True).stdout
    shutil.rmtree(d)
    for l in out.splitlines():
        if 'accuracy_test.go' in l and 'below issue' not in l:
            print(l.strip())


def append(names):
    seen = {key(r) for p in (SHARED, DEV, HELD) if os.path.exists(p) for r in rows(p)}
    for name in names:
        n = {'dev': 0, 'held': 0, 'dup': 0}
        with open(DEV, 'a', encoding='utf-8') as dev, open(HELD, 'a', encoding='utf-8') as hb:
            with open(batch(name), encoding='utf-8') as f:
                for l in f:
                    if not l.strip():
                        continue
                    r = json.loads(l)
                    if key(r) in seen:
                        n['dup'] += 1
                        continue
                    seen.add(key(r))
                    part = 'held' if held(r) else 'dev'
                    (hb if part == 'held' else dev).write(l.rstrip('\n') + '\n')
                    n[part] += 1
        print(f"{name}: {n['dev']} development, {n['held']} held back, {n['dup']} duplicates dropped")


if __name__ == '__main__':
    if len(sys.argv) < 3 or sys.argv[1] not in ('check', 'measure', 'append'):
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'check':
        sys.exit(0 if all([check(a) for a in args]) else 1)
    measure(args) if cmd == 'measure' else append(args)
