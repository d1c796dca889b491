#!/usr/bin/env python3
# Copies built example binaries into an example's bin/ directory and writes a stamp.
import os, shutil, sys

dest, stamp, files = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(dest, exist_ok=True)
for f in files:
    target = os.path.join(dest, os.path.basename(f))
    tmp = target + '.tmp'
    shutil.copy2(f, tmp)
    os.replace(tmp, target)
open(stamp, 'w').write('\n'.join(files) + '\n')
