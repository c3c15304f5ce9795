#!/usr/bin/env bash
# Install kenning with its test dependencies and run the whole test suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev >&2
. .venv/bin/activate
python -m pytest "$@"
