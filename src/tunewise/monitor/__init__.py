"""Monitoring: production traffic against the serving model's training data and eval values.

- `requests.py`: the request-log row, the `RequestSource` reader protocol, a JSONL reader;
- `drift.py`, `clusters.py`: input drift on MiniLM embeddings (domain classifier, outliers, which
  kinds of input grew); `outputs.py`: label mix (PSI, chi-squared) and answer lengths (KS);
- `quality.py`: the reference-free scorers live, per arm and day, against the eval report;
- `context.py`: the model, its training data, eval values and ages from the registry;
- `analyze.py`: one report from plain inputs; `api.py`: `run_monitor`, what the CLI calls;
- `triggers.py`: which checks fired, the registry event and the webhook; `html.py`, `report.py`.

Importing this package is cheap; numpy, scikit-learn and torch load inside the functions.
"""
