#!/usr/bin/env bash
# Bounded, seeded CLI fuzzing through the real launcher: each case writes malformed files
# (random bytes, truncated or mutated .npy headers, wrong shapes, corrupted .onnx / .npz / .pb)
# into a fresh temp directory and runs `java -jar cli/target/djl-attention.jar <command> ...` there,
# with a 120 s limit. A case passes when it exits 2 (bit-flipped models may also exit 0 or 1)
# with exactly one stderr line, leaves no output or temp file, and does not crash the JVM
# (exit 134/139, hs_err_pid*.log). Cases that misbehave keep their directory for inspection.
#
#   scripts/cli-fuzz.sh [COUNT] [FIRST_SEED] [in-process|JAR] [classic|hostile|all]
#                                                   defaults: 60 1000 cli/target/djl-attention.jar all
#
# With in-process, the cases run through Main.run in one JVM (fast; native stderr and crashes are
# not seen there). Families: classic (malformed files, as before), hostile (nesting 33..200,000
# deep, dimensions of 41..100,000 digits, control characters in headers and member names, 2..20,000
# members, zip bombs under lowered limits, generated conformance cases with out-of-range or
# overflowing sizes, FIFOs, devices and directories, oversized models) or all (3 in 10 hostile).
# Every stderr line must also be at most 500 characters, free of control characters and of stack
# traces.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${1:-60}"
FIRST_SEED="${2:-1000}"
WHERE="${3:-cli/target/djl-attention.jar}"
FAMILIES="${4:-all}"

mvn -q -B -DskipTests package
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, java $(java -version 2>&1 | head -1)"
java -Dai.djl.offline=true -cp "cli/target/test-classes:core/target/test-classes:onnx/target/test-classes:cli/target/classes:cli/target/lib/*" \
  io.github.djlattention.cli.CliFuzz "$COUNT" "$FIRST_SEED" "$WHERE" "$FAMILIES"
