#!/usr/bin/env bash
# xai3d setup on a fresh Debian machine: Jupyter (Debian packages), the npm packages, the project-local tslab kernel,
# and the real brain template (mricron-data). With --run, then runs the main job (npm run pipeline).
#
# As root, the Debian packages are installed with apt-get. Otherwise the exact apt-get command is printed and the
# setup stops (the brain template is then unpacked into data/mricron without root).
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=0
for a in "$@"; do
  case "$a" in
    --run) RUN=1 ;;
    -h|--help) echo "usage: bash scripts/setup.sh [--run]"; exit 0 ;;
    *) echo "setup: unknown option $a (use --run)" >&2; exit 2 ;;
  esac
done

JUPYTER_DEBS=(jupyter-notebook jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel)
EXTRA_DEBS=(chromium mricron-data)

have_jupyter() { /usr/bin/python3 -c 'import nbclient, nbconvert, nbformat, jupyter_client, ipykernel' >/dev/null 2>&1; }
missing_debs() {
  local out=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p"); done
  echo "${out[@]:-}"
}

missing="$(missing_debs "${JUPYTER_DEBS[@]}" "${EXTRA_DEBS[@]}")"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
  elif ! have_jupyter; then
    echo "setup: Jupyter is missing. Run as root:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${JUPYTER_DEBS[*]} ${EXTRA_DEBS[*]}" >&2
    echo "then run this setup again." >&2
    exit 1
  fi
fi

if [ ! -f /usr/share/mricron/templates/ch2.nii.gz ] && [ ! -f data/mricron/usr/share/mricron/templates/ch2.nii.gz ]; then
  echo "setup: unpacking mricron-data (Colin27 T1 + AAL atlas) into data/mricron without root"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download mricron-data >/dev/null 2>&1) && mkdir -p data/mricron && dpkg-deb -x "$tmp"/mricron-data_*.deb data/mricron \
    || echo "setup: warning: could not fetch mricron-data; the OASIS-2 phantoms need it (see environment.md)" >&2
  rm -rf "$tmp"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi

bash scripts/install-kernel.sh

echo "setup: done. Node $(node --version), npm $(npm --version); backend: $(XAI3D_QUIET=1 node bin/xai3d.js info | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const i=JSON.parse(s);console.log(i.backend.name+", "+i.backend.threads+" thread(s)")})')"
if [ "$RUN" = 1 ]; then
  exec npm run pipeline
fi
