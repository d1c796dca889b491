#!/usr/bin/env python3
# Builds a Vite example UI (type check, then `vite build` into UI/build) when its
# sources are newer than the bundle, and writes a stamp. Used by examples/meson.build;
# every build directory shares the one bundle, so an up-to-date one is left alone.
import os, subprocess, sys

ui, stamp = sys.argv[1], sys.argv[2]
bin_dir = os.path.join(ui, 'node_modules', '.bin')
out = os.path.join(ui, 'build', 'index.html')


def newest(paths):
    t = 0.0
    for p in paths:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                for f in files:
                    t = max(t, os.path.getmtime(os.path.join(root, f)))
        elif os.path.exists(p):
            t = max(t, os.path.getmtime(p))
    return t


sources = [os.path.join(ui, p) for p in
           ('src', 'index.html', 'vite.config.ts', 'tsconfig.json', 'package-lock.json')]
if not os.path.isdir(bin_dir):
    sys.exit(f'{ui}: node_modules is missing: run tools/setup.sh first')
if not os.path.exists(out) or os.path.getmtime(out) < newest(sources):
    for cmd in (['tsc', '-p', 'tsconfig.json'], ['vite', 'build', '--logLevel', 'warn']):
        r = subprocess.run([os.path.join(bin_dir, cmd[0])] + cmd[1:], cwd=ui)
        if r.returncode != 0:
            sys.exit(f'{ui}: {cmd[0]} failed')
with open(stamp, 'w') as f:
    f.write(out + '\n')
