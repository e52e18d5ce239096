#!/usr/bin/env bash
# npm run jupyter [-- options]: the classic Notebook UI on notebooks/ with the project-local tslab kernel.
# As root (containers, CI machines) Jupyter refuses to start without --allow-root; it is added here.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=()
if [ "$(id -u)" = 0 ]; then extra+=(--allow-root); fi
export JUPYTER_PATH="$PWD/.jupyter/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export PYDEVD_DISABLE_FILE_VALIDATION=1
exec jupyter-notebook --notebook-dir=notebooks "${extra[@]}" "$@"
