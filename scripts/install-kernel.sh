#!/usr/bin/env bash
# Register the tslab (TypeScript) kernel.
#   npm run kernel               for this project only, under .jupyter/ (not committed: its kernel.json holds the
#                                absolute path of this clone's tslab). The notebook runner and `npm run jupyter` point
#                                JUPYTER_PATH there.
#   npm run kernel -- --user     also in your own Jupyter kernels (~/.local/share/jupyter/kernels/tslab), so that
#                                JupyterLab, VS Code and a plain `jupyter notebook` find it as "TypeScript".
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
user=0
for a in "$@"; do
  case "$a" in
    --user) user=1 ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-kernel: unknown option $a (use --user or nothing)" >&2; exit 2 ;;
  esac
done
if [ ! -x node_modules/.bin/tslab ]; then
  echo "install-kernel: node_modules/.bin/tslab is missing: run npm ci first" >&2
  exit 1
fi
node_modules/.bin/tslab install --python=/usr/bin/python3 --binary="$root/node_modules/.bin/tslab" --prefix="$root/.jupyter" >/dev/null
# plotly.js as a Notebook-UI asset (/nbextensions/xai3d/plotly.min.js): a saved notebook whose figures lost the
# inlined copy (its first figure cell was re-run) loads it from there on reload.
plotly_js="$root/node_modules/plotly.js-dist-min/plotly.min.js"
install_plotly() { mkdir -p "$1/nbextensions/xai3d" && cp "$plotly_js" "$1/nbextensions/xai3d/plotly.min.js"; }
install_plotly "$root/.jupyter/share/jupyter"
echo "install-kernel: tslab kernel registered in $root/.jupyter/share/jupyter/kernels (use: JUPYTER_PATH=$root/.jupyter/share/jupyter)"
if [ "$user" = 1 ]; then
  node_modules/.bin/tslab install --python=/usr/bin/python3 --binary="$root/node_modules/.bin/tslab" --user >/dev/null
  install_plotly "${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}"
  echo "install-kernel: tslab kernel registered for $(id -un) in ${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}/kernels/tslab"
fi
