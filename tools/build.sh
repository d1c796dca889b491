#!/bin/sh
# Configures (once) and builds dext in BUILD_DIR (default: build). Quiet unless
# something fails.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build}
shift 2>/dev/null || true
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ ! -f "$dir/build.ninja" ]; then
  if ! meson setup "$dir" "$@" >"$log" 2>&1; then
    cat "$log"
    exit 1
  fi
fi
if ! ninja -C "$dir" >"$log" 2>&1; then
  cat "$log"
  exit 1
fi
