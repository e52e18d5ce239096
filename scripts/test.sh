#!/usr/bin/env bash
# npm test: type-check, then every test file through node's test runner (tsx). Files are listed explicitly, and a
# test file that exists but is not listed fails the run, so none is silently skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS=(
  test/backend-select.test.ts
  test/cache.test.ts
  test/plotly.test.ts
  test/kernels3d.test.ts
  test/simd.test.ts
  test/native.test.ts
  test/fused-conv.test.ts
  test/lrp-fusion.test.ts
  test/memory.test.ts
  test/nifti.test.ts
  test/mnist3d.test.ts
  test/oasis2.test.ts
  test/training.test.ts
  test/explain.test.ts
  test/evaluate.test.ts
  test/stats.test.ts
  test/reliability.test.ts
  test/attribution.test.ts
  test/centering.test.ts
  test/metrics.test.ts
  test/imports.test.ts
  test/lock.test.ts
  test/jobs.test.ts
  test/slurm.test.ts
  test/jupyter-ui.test.ts
  test/notebooks.test.ts
)

for f in test/*.test.ts; do
  listed=0
  for t in "${TESTS[@]}"; do [ "$t" = "$f" ] && listed=1; done
  if [ "$listed" = 0 ]; then echo "scripts/test.sh: $f is not listed in TESTS" >&2; exit 1; fi
done

echo "== typecheck (tsc --noEmit)"
node_modules/.bin/tsc --noEmit -p .
echo "== tests"
export XAI3D_QUIET="${XAI3D_QUIET:-1}"
exec node --import tsx --test --test-reporter=spec "${TESTS[@]}"
