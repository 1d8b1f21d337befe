#!/usr/bin/env bash
# One-time set-up, safe to re-run: a virtual environment in .venv (reused when it works), torch
# (a CPU build unless an NVIDIA GPU is present), the toolkit in editable mode (this builds the
# Cython alignment search), the test tools, and a speech engine (flite, else espeak-ng) for the
# no-download demo corpus.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-${VIRTUAL_ENV:-.venv}}  # an active virtualenv gets the install
PYTHON=${PYTHON:-python3}
TORCH_CPU_VERSION=${TORCH_CPU_VERSION:-2.13.0}

log() { echo "[setup] $*"; }

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import sys" 2>/dev/null; then
  log "reusing $VENV"
else
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if python -c "import torch" 2>/dev/null; then
  log "torch $(python -c 'import torch; print(torch.__version__)') already installed"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  log "NVIDIA GPU found: installing a CUDA build of torch"
  pip install -q "torch>=$(python -c 'import runpy; print(runpy.run_path("gradwave/common/requirements.py")["MIN_TORCH"])')"
else
  log "no NVIDIA GPU: installing the CPU build torch==${TORCH_CPU_VERSION}+cpu"
  # Only torch itself comes from PyTorch's CPU index (pip may warn when it is unreachable and a
  # configured local index serves the wheel); its dependencies come from the default index.
  pip install -q --no-deps --retries 1 "torch==${TORCH_CPU_VERSION}+cpu" \
    --extra-index-url https://download.pytorch.org/whl/cpu
  pip install -q "torch==${TORCH_CPU_VERSION}+cpu"
fi

python -m gradwave.common.requirements || exit 1

# Reinstall the toolkit only when its build inputs changed or the extension does not import.
stamp="$VENV/.toolkit-build-stamp"
# commands.py: setup.py installs the console scripts it names
inputs=$(cat setup.py pyproject.toml commands.py monotonic_align/core.pyx | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ] && python -c "import monotonic_align.core" 2>/dev/null; then
  log "toolkit already installed and built"
else
  log "installing the toolkit (editable) and building monotonic_align.core"
  pip install -q setuptools wheel "Cython>=3.0" numpy
  pip install -q --no-build-isolation -e ".[test,eval,serve,onnx]"
  echo "$inputs" > "$stamp"
fi

if command -v flite >/dev/null 2>&1 || command -v espeak-ng >/dev/null 2>&1; then
  :
elif command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  log "installing flite (speech engine for the demo corpus)"
  (apt-get install -y -q flite >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q flite >/dev/null 2>&1; } ||
   apt-get install -y -q espeak-ng >/dev/null 2>&1) || log "could not install flite or espeak-ng; demo-corpus tests will skip"
else
  log "no flite or espeak-ng, and no root apt-get to install them: run 'sudo apt-get install flite'"
fi
