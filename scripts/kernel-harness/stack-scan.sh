#!/usr/bin/env bash
# Builds the native library as core/pom.xml does and lists every function whose code moves ymm or
# zmm registers to or from the stack, with the count of such instructions, and every `rep stos`: a
# micro-kernel whose accumulators should live in registers shows up here when gcc has put them in
# memory (docs/performance.md, issue 14's eleventh pass). A few entries are expected: a prologue
# or epilogue that saves a handful of registers, the CPU peak probe's final sum, the AVX2 tanh of
# the softcap (its constants).
#
#   scripts/kernel-harness/stack-scan.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../../core/src/main/c"
java_home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
gcc -O3 -std=c11 -Wall -Wextra -fPIC -shared -march=x86-64 -I"$java_home/include" \
  -I"$java_home/include/linux" -o "$out/libdjlattention.so" "$src"/*.c -lm -ldl
objdump -d --no-show-raw-insn "$out/libdjlattention.so" | awk '
  /^[0-9a-f]+ <.*>:$/ { name = $2 }
  /rep stos/ { stos[name]++ }
  /%[yz]mm[0-9]+/ && /\(%rsp\)/ { stack[name]++ }
  END {
    for (f in stack) printf "%6d vector moves to or from the stack  %s\n", stack[f], f
    for (f in stos) printf "%6d rep stos                            %s\n", stos[f], f
  }' | sort -rn
