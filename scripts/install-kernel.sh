#!/usr/bin/env bash
# Register the tslab (TypeScript) kernel for this project only, under .jupyter/ (not committed: its kernel.json holds
# the absolute path of this clone's tslab). The notebook runner and `npm run jupyter` point JUPYTER_PATH there.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
if [ ! -x node_modules/.bin/tslab ]; then
  echo "install-kernel: node_modules/.bin/tslab is missing: run npm ci first" >&2
  exit 1
fi
node_modules/.bin/tslab install --python=/usr/bin/python3 --binary="$root/node_modules/.bin/tslab" --prefix="$root/.jupyter" >/dev/null
echo "install-kernel: tslab kernel registered in $root/.jupyter/share/jupyter/kernels (use: JUPYTER_PATH=$root/.jupyter/share/jupyter)"
