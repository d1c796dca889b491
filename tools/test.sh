#!/bin/sh
# Runs every test suite twice: on the optimised build, then on an ASan+UBSan build
# (LeakSanitizer on). Prints "N passed, N failed" over all of them at the end and
# fails when any test failed.
set -u
cd "$(dirname "$0")/.."
tools/setup.sh || exit 1

status=0
tools/build.sh build -Dwerror_ci=${DEXT_WERROR:-false} || exit 1
tools/build.sh build-asan -Db_sanitize=address,undefined -Dbuildtype=debug \
  -Dwerror_ci=${DEXT_WERROR:-false} || exit 1

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66
export LSAN_OPTIONS=suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0

meson test -C build --print-errorlogs --num-processes 2 "$@" || status=1
meson test -C build-asan --print-errorlogs --num-processes 2 "$@" || status=1

python3 tools/test-totals.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json || status=1
exit $status
