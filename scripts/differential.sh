#!/usr/bin/env bash
# The differential test of every attention kernel (ops.KernelDifferentialTest) over a long series
# of seeded cases: native kernel, libtorch's fused kernel and tiled loop, NDArray tiles, the fused
# kernel with autograd, the step-by-step chain and the dispatcher, against the float64 reference,
# with Fortran-order, strided and offset inputs, -FLT_MAX padding masks, gradients (every 8th
# case) and inputs shared by two threads (every 16th), half the 4-D cases again sequence first
# (optSequenceFirst), then decode-shaped cases, then testing.ExtremeCases on every kernel in both
# layouts. mvn test runs 1,500 random, 200 decode and 100 extreme cases from seed 1.
#
#   scripts/differential.sh [CASES] [FIRST_SEED] [EXTREME_CASES] [DECODE_CASES]
#   defaults: 50000 100000 2000 5000
#
# Prints the surefire summary line and the wall time; a failing case names its seed.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${1:-50000}"
FIRST="${2:-100000}"
EXTREME="${3:-2000}"
DECODE="${4:-5000}"
start=$(date +%s)
mvn -B -ntp test -pl core -Dtest=KernelDifferentialTest -Dsurefire.failIfNoSpecifiedTests=false \
  -Ddjl.attention.differential.cases="$CASES" -Ddjl.attention.differential.seed="$FIRST" \
  -Ddjl.attention.differential.extremeCases="$EXTREME" \
  -Ddjl.attention.differential.decodeCases="$DECODE" \
  | grep -E 'Tests run:|FAIL|seed [0-9]+' | sort -u | head -40
echo "differential: $CASES random, $DECODE decode and $EXTREME extreme cases from seed $FIRST in $(( $(date +%s) - start )) s"
