#!/usr/bin/env bash
# Create (or bring up to date) the Python environment mmwish runs in.
#
#   bash tools/setup_env.sh            # CPU, environment in ./.venv
#   FORCE_CUDA=1 bash tools/setup_env.sh   # build mmcv's CUDA ops (GPU machines)
#
# Idempotent: every step checks first and skips what is already in place. The
# mmcv wheel it builds is kept in $MMWISH_CACHE (default ~/.cache/mmwish), keyed
# by torch version and CUDA, so a new clone on the same machine reuses it.
#
# Variables: MMWISH_VENV (environment path), PYTHON (interpreter creating it),
# MMWISH_CACHE, FORCE_CUDA, MAX_JOBS, TORCH_CUDA_ARCH_LIST.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMWISH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CACHE="${MMWISH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmwish}"
MMCV_VERSION=2.1.0
START=$SECONDS

say() { printf '[setup_env %4ss] %s\n' "$((SECONDS - START))" "$*"; }
pipq() { "$VENV/bin/python" -m pip install --disable-pip-version-check -q "$@"; }
has() { "$VENV/bin/python" - "$@" <<'EOF' >/dev/null 2>&1
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
EOF
}

if [ ! -x "$VENV/bin/python" ]; then
  say "creating the virtual environment $VENV with $($PYTHON --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
else
  say "reusing the virtual environment $VENV"
fi

say "build tools (requirements/build.txt)"
pipq -r "$ROOT/requirements/build.txt"

if has torch torchvision; then
  say "torch already installed: $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') (kept)"
else
  say "installing torch and torchvision (requirements/torch.txt; about a minute from a local file, longer from the registry)"
  pipq -r "$ROOT/requirements/torch.txt"
fi

TORCH_KEY=$("$VENV/bin/python" -c 'import sys, torch; print(f"torch{torch.__version__}-py{sys.version_info[0]}{sys.version_info[1]}")')
if [ "${FORCE_CUDA:-0}" = "1" ]; then
  TORCH_KEY="$TORCH_KEY-cuda${TORCH_CUDA_ARCH_LIST:-native}"
else
  TORCH_KEY="$TORCH_KEY-cpu"
fi
WHEELS="$CACHE/wheels/${TORCH_KEY// /_}"

mmcv_ok() {
  "$VENV/bin/python" - "$MMCV_VERSION" <<'EOF' >/dev/null 2>&1
import sys
import mmcv
from mmcv.ops import nms  # noqa: F401  (needs the compiled mmcv._ext)
assert mmcv.__version__ == sys.argv[1]
EOF
}

if mmcv_ok; then
  say "mmcv $MMCV_VERSION with ops already installed"
else
  if ! ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
    JOBS="${MAX_JOBS:-$(nproc)}"
    say "building mmcv $MMCV_VERSION with ops from source for $TORCH_KEY (MAX_JOBS=$JOBS)."
    say "this takes about 12 minutes on 2 cores (5 to 6 on 16 with CUDA) and happens once per machine: the wheel is kept in $WHEELS"
    BUILD=$(mktemp -d)
    trap 'rm -rf "$BUILD"' EXIT
    "$VENV/bin/python" -m pip download --disable-pip-version-check -q --no-deps \
      --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-"$MMCV_VERSION".tar.gz -C "$BUILD"
    # torch >= 2.13's headers need C++20; mmcv 2.1.0 hard-codes -std=c++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
    mkdir -p "$WHEELS"
    (cd "$BUILD/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 MAX_JOBS="$JOBS" \
      "$VENV/bin/python" -m pip wheel --disable-pip-version-check -q \
      --no-build-isolation --no-deps -w "$WHEELS" .)
    say "mmcv wheel built: $(ls "$WHEELS")"
  else
    say "reusing the mmcv wheel in $WHEELS"
  fi
  # --no-deps here; its needs (mmengine among them) come with the next step.
  pipq --no-deps "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl
fi

say "OpenMMLab packages and runtime needs (requirements/mminstall.txt, runtime.txt, tests.txt)"
pipq -r "$ROOT/requirements/mminstall.txt" \
  -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
mmcv_ok || { say "ERROR: mmcv $MMCV_VERSION is installed but its compiled ops do not load; delete $WHEELS and run again"; exit 1; }

say "SAM 2 teachers' package (requirements/sam2.txt; its build imports torch: no build isolation)"
export SAM2_BUILD_CUDA=0
pipq --no-build-isolation -r "$ROOT/requirements/sam2.txt"

if ! "$VENV/bin/python" -m pip show -q openmim >/dev/null 2>&1; then
  say "openmim without opendatalab (requirements/mim.txt)"
  pipq -r <(grep -v '^openmim' "$ROOT/requirements/mim.txt")
  pipq --no-deps "$(grep '^openmim' "$ROOT/requirements/mim.txt")"
fi

say "mmwish itself (editable)"
pipq --no-build-isolation --no-deps -e "$ROOT"

"$VENV/bin/python" -c 'import mmwish, mmcv, mmdet, mmengine, torch; print(f"mmwish {mmwish.__version__}: torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}")'
say "done; activate with: source $VENV/bin/activate"
