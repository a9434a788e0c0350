.PHONY: setup test test-all lint format bench quickstart

setup:
	bash scripts/setup.sh

test: setup
	.venv/bin/python -m pytest -q

test-all: setup
	.venv/bin/python -m pytest -q -m "integration or not integration"

lint:
	.venv/bin/ruff check src tests bench examples
	.venv/bin/ruff format --check src tests bench examples
	.venv/bin/mypy

format:
	.venv/bin/ruff check --fix src tests bench examples
	.venv/bin/ruff format src tests bench examples

bench: setup
	.venv/bin/python bench/data_prepare.py
	.venv/bin/python bench/train_throughput.py
	.venv/bin/python bench/generate_batched.py

# `tunewise run` exits 10 when the gate blocks (for CI); the quickstart reports that outcome instead
# of a make error. Any other failure still fails.
quickstart: setup
	@.venv/bin/tunewise run examples/support-intent/tunewise.yaml; code=$$?; \
	if [ $$code -eq 10 ]; then \
	  echo "quickstart: the gate blocked this candidate (tunewise run exits 10 on a block, for CI); why: runs/support-intent/compare/report.md"; \
	elif [ $$code -ne 0 ]; then exit $$code; fi
