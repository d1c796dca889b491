#!/bin/sh
# Formats every C file of the project with the checked-in .clang-format.
cd "$(dirname "$0")/.."
# shellcheck disable=SC2046
clang-format -i $(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 'examples/*.c' 'fuzz/*.c')
