#!/usr/bin/env bash
# The main job on a fresh machine: install, index the PostgreSQL 15 manual, and answer a question from it with
# numbered citations and a verdict per claim, offline: the packaged local generator (Qwen2.5 1.5B on llama.cpp)
# writes the answer, streamed; kenning checks every claim and says so when the manual does not answer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh local >&2
. .venv/bin/activate
export KENNING_HOME="${KENNING_HOME:-$PWD/.kenning-demo}"
corpus="${1:-../shared/data/corpora/postgresql-15.20-doc-html.tar.gz}"
question="${2:-When should I use VACUUM FULL instead of plain VACUUM?}"
kenning index "$corpus" --collection postgres
kenning ask "$question" --collection postgres
