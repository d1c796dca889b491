#!/usr/bin/env python3
# Sums meson's testlog.json files into one "N passed, N failed" line (the last line).
import json, sys

passed = failed = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        print('missing test log: %s' % path)
        continue
    for line in lines:
        if not line.strip():
            continue
        try:
            t = json.loads(line)
        except ValueError:
            # A damaged log (two runs writing one build directory) proves nothing.
            failed += 1
            print('unreadable line in %s: %r' % (path, line[:60]))
            continue
        if t.get('result') in ('OK', 'EXPECTEDFAIL', 'SKIP'):
            passed += 1
        else:
            failed += 1
            print('FAILED: %s %s (%s)' % (path.split('/')[0], t.get('name'), t.get('result')))
print('%d passed, %d failed' % (passed, failed))
sys.exit(1 if failed else 0)
