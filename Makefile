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

quickstart: setup
	.venv/bin/tunewise run examples/support-intent/tunewise.yaml
