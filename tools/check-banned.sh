#!/bin/sh
# Fails when a banned libc call appears in src/ (see docs/style.md).
cd "$(dirname "$0")/.."
pattern='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atoll|system|popen)[[:space:]]*\(|[^x]\bmalloc[[:space:]]*\(|[^x]\brealloc[[:space:]]*\(|[^_]\bexit[[:space:]]*\('
hits=$(grep -nE "$pattern" $(git ls-files 'src/*.c' 'src/*.h' 2>/dev/null || find src -name '*.[ch]') |
  grep -v 'banned-ok' | grep -v '^src/main.c:.*exit' || true)
if [ -n "$hits" ]; then
  echo "banned calls:"
  echo "$hits"
  exit 1
fi
