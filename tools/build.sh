#!/bin/sh
# Configures (once) and builds dext in BUILD_DIR (default: build).
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
shift 2>/dev/null || true
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null
