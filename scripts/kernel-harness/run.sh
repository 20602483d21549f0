#!/usr/bin/env bash
# Builds the C harnesses of the native kernels (no JVM) against core/src/main/c and runs one
# series of each on this CPU: the prefill kernel at S = 128, 512, 1024 and 4096 (H = 8, D = 64; up
# to 512 also on libgomp's team, as in the JVM, where a pthread created per call shows) and the
# decode kernel at T = 1024, 4096 and 16384 (H = 32, G = 8, D = 128), on two threads, the AVX2
# variant and, where the CPU has AVX-512, the AVX-512 one, alone and then beside a plain read of
# its K and V in the same rounds (on libgomp's team); and the few-row linear kernel at M = 1, 3,
# 16 and 64 rows (K = N = 512, one thread); and, where the CPU has AVX512_BF16, the bfloat16
# kernel's vdpbf16ps products at S = 1024 and 4096 (H = 8, D = 64). docs/performance.md quotes
# such runs.
#
#   scripts/kernel-harness/run.sh [threads]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../../core/src/main/c"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
threads="${1:-2}"
kernels=("$src"/attention_kernel.c "$src"/prefill_avx2.c "$src"/decode_kernel.c "$src"/decode_avx2.c)
flags=(-O3 -std=c11 -Wall -Wextra -march=x86-64 -I"$src")
gcc "${flags[@]}" -o "$out/prefill" "$here/prefill_harness.c" "${kernels[@]}" -lm -lpthread -ldl \
  -Wl,--no-as-needed -lgomp
gcc "${flags[@]}" -o "$out/decode" "$here/decode_harness.c" "${kernels[@]}" -lm -lpthread -ldl
gcc "${flags[@]}" -o "$out/decode_read" "$here/decode_read_harness.c" "${kernels[@]}" -lm -lpthread \
  -ldl -Wl,--no-as-needed -lgomp
gcc "${flags[@]}" -o "$out/linear" "$here/linear_harness.c" "$src"/linear_kernel.c \
  "$src"/attention_kernel.c "$src"/prefill_avx2.c -lm -lpthread -ldl
variants=(1)
if grep -q ' avx512f' /proc/cpuinfo; then
  variants=(0 1)
fi
for avx2 in "${variants[@]}"; do
  for s in 128 512 1024 4096; do
    reps=$([ "$s" -ge 4096 ] && echo 4 || echo 15)
    "$out/prefill" "$s" "$threads" "$reps" "$avx2"
    if [ "$s" -le 512 ]; then # short calls: on libgomp's team too, as in the JVM
      HARNESS_TEAM=openmp "$out/prefill" "$s" "$threads" "$((reps * 20))" "$avx2"
    fi
  done
  for t in 1024 4096 16384; do
    "$out/decode" "$t" "$threads" 50 "$avx2"
  done
done
for t in 1024 4096 16384; do
  "$out/decode_read" "$t" "$threads" "$([ "$t" -ge 16384 ] && echo 30 || echo 100)"
done
for avx2 in "${variants[@]}"; do
  for m in 1 3 16 64; do
    "$out/linear" "$m" 1 2000 "$avx2"
  done
done
if grep -q ' avx512_bf16' /proc/cpuinfo; then
  gcc "${flags[@]}" -o "$out/bf16" "$here/bf16_harness.c" "$src"/attention_bf16.c \
    "$src"/attention_kernel.c "$src"/prefill_avx2.c -lm -lpthread -ldl
  for s in 1024 4096; do
    "$out/bf16" "$s" "$threads" "$([ "$s" -ge 4096 ] && echo 4 || echo 15)"
  done
fi
