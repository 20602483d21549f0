#!/usr/bin/env bash
# Native memory over long runs: 100,000 forward calls of a MultiHeadAttentionBlock (through one
# DJL Predictor), 100,000 OrtRunner.run calls and 100,000 fast-path attention calls (the native
# kernel where the CPU has AVX-512), each in its own JVM, reading VmRSS from
# /proc/self/status after warm-up, every tenth of the run, and at the end.
#
#   scripts/native-memory.sh [CALLS] [WARMUP]      defaults: 100000 10000
#   LEAK_CONTROL=1 scripts/native-memory.sh        adds runs that leak a small array per call
#
# The JVM heap is fixed and pre-touched (-Xms = -Xmx, -XX:+AlwaysPreTouch) so that heap growth
# does not show as resident memory, and MALLOC_ARENA_MAX=2 keeps glibc's per-thread arenas from
# adding noise. PyTorch runs with one thread (set by the probe; two for the fast path, so that the
# kernel's second thread is measured too). Linux only.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS="${1:-100000}"
WARMUP="${2:-10000}"

mvn -q -B -DskipTests package
CP="core/target/test-classes:onnx/target/test-classes:cli/target/lib/*"
PROBE=io.github.djlattention.testing.NativeMemoryProbe

# probe [JVM_OPTION...] -- TARGET CALLS WARMUP
probe() {
  local jvm=()
  while [[ "$1" != "--" ]]; do jvm+=("$1"); shift; done
  shift
  MALLOC_ARENA_MAX=2 java -Xms64m -Xmx64m -XX:+AlwaysPreTouch -Dai.djl.offline=true "${jvm[@]}" \
    -cp "$CP" "$PROBE" "$@" 2>&1 | grep -E '^(target|rss_after|sample|result)|Exception|Error'
}

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, java $(java -version 2>&1 | head -1)"
probe -- block "$CALLS" "$WARMUP"
probe -- ort "$CALLS" "$WARMUP"
probe -- fast "$CALLS" "$WARMUP"
if [[ "${LEAK_CONTROL:-0}" == 1 ]]; then
  # 20,000 calls: 100,000 leaked arrays would exhaust the 64 MiB of direct memory
  echo "# controls: 20,000 calls leaking one small native array per call"
  probe -Dprobe.leakBytes=1024 -- block 20000 "$WARMUP"
  probe -Dprobe.leakBytes=512 -- ort 20000 "$WARMUP"
  probe -Dprobe.leakBytes=1024 -- fast 20000 "$WARMUP"
fi
