"""Reading gate decisions and eval results into plain records.

The eval stage's `report.json` (evaluate/compare.py + gate.py) is read as is. Fields relied on:

- `gate.decision`: `"accept"` (also `"pass"`) or `"block"`; `gate.rules`: a list of
  `{"rule", "status": "pass"|"block"|"skip", "detail"}`, stored as given; `gate.blocked_by`;
- `golden.hash` (or `golden_sha256`): content hash of the golden set the sides ran on;
- `candidate` / `base`: side summaries `{"label", "variant": {"model", "adapter", ...},
  "identity": {"kind", "model", "base_hash", "adapter_hash"?}, "metrics": {name: mean}}`.
  The registry finds the candidate by `identity.adapter_hash` (the PEFT weights hash), a provider
  model id in `identity.model`, the adapter folder, or the label; the base side is either a
  registered model found the same way or the candidate's base model (same `base_hash`).

A minimal hand-made gate result works too: `{"decision", "candidate", "baseline",
"golden_sha256", "rules"}` with `candidate`/`baseline` as registry names, folders, provider ids
(or, for the baseline, the base model's id/hash/path or the word `base`). Options override both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.artifacts import sha256_file
from tunewise.errors import RegistryError
from tunewise.registry.integrity import read_json_object

Side = str | dict[str, Any]
_PASS = {"pass", "passed", "accept", "accepted"}
_BLOCK = {"block", "blocked", "fail", "failed", "reject", "rejected"}


@dataclass
class GateRecord:
    passed: bool
    candidate: Side
    baseline: Side
    golden_sha256: str
    rules: Any
    feature: str | None = None
    report_path: str | None = None
    report_sha256: str | None = None
    sides: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Side summaries with metrics (`candidate`, `base`), recorded as evals when present."""


@dataclass
class EvalRecord:
    golden_sha256: str
    variant: str
    metrics: dict[str, Any] = field(default_factory=dict)
    report_path: str | None = None
    report_sha256: str | None = None


def _load(
    source: dict[str, Any] | str | Path, what: str
) -> tuple[dict[str, Any], str | None, str | None]:
    if isinstance(source, dict):
        return source, None, None
    path = Path(source).expanduser().resolve()
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise RegistryError(f"{path}: no such {what} file")
    return read_json_object(path, what), str(path), sha256_file(path)


def _golden(data: dict[str, Any], gate: dict[str, Any]) -> Any:
    golden = data.get("golden")
    nested = golden.get("hash") if isinstance(golden, dict) else None
    return gate.get("golden_sha256") or data.get("golden_sha256") or nested


def _decision(gate: dict[str, Any], where: str) -> bool:
    decision = gate.get("decision")
    if isinstance(decision, str) and decision.lower() in _PASS:
        return True
    if isinstance(decision, str) and decision.lower() in _BLOCK:
        return False
    if isinstance(gate.get("passed"), bool):
        return bool(gate["passed"])
    raise RegistryError(
        f"{where}: gate 'decision' must be 'accept'/'pass' or 'block' (got {decision!r})"
    )


def _side(value: Any) -> Side | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and (
        value.get("identity") or value.get("variant") or value.get("label")
    ):
        return value
    return None


def read_gate(
    source: dict[str, Any] | str | Path,
    *,
    candidate: str | None = None,
    baseline: str | None = None,
    feature: str | None = None,
) -> GateRecord:
    """Parse a gate decision (eval report.json or a dict); explicit arguments override it."""
    data, path, digest = _load(source, "gate report")
    where = path or "gate result"
    gate = data["gate"] if isinstance(data.get("gate"), dict) and "decision" not in data else data
    cand = candidate or _side(gate.get("candidate")) or _side(data.get("candidate"))
    base = (
        baseline
        or _side(gate.get("baseline"))
        or _side(data.get("baseline"))
        or _side(data.get("base"))
    )
    golden = _golden(data, gate)
    missing = [
        n for n, v in (("candidate", cand), ("baseline", base), ("golden hash", golden)) if not v
    ]
    if missing:
        raise RegistryError(
            f"{where}: gate result lacks {', '.join(missing)}; pass them as options"
        )
    sides = {
        k: data[k]
        for k in ("candidate", "base")
        if isinstance(data.get(k), dict) and isinstance(data[k].get("metrics"), dict)
    }
    assert cand is not None and base is not None
    return GateRecord(
        passed=_decision(gate, where),
        candidate=cand,
        baseline=base,
        golden_sha256=str(golden),
        rules=gate.get("rules", []),
        feature=feature or gate.get("feature") or data.get("feature"),
        report_path=path,
        report_sha256=digest,
        sides=sides,
    )


def read_eval(
    source: dict[str, Any] | str | Path | None = None,
    *,
    golden_sha256: str | None = None,
    variant: str | None = None,
    metrics: dict[str, Any] | None = None,
    side: str = "candidate",
) -> EvalRecord:
    """An eval result from a report (its `side` summary, or top-level `metrics`) and/or values."""
    data: dict[str, Any] = {}
    path = digest = None
    if source is not None:
        data, path, digest = _load(source, "eval report")
    raw_side = data.get(side)
    summary: dict[str, Any] = raw_side if isinstance(raw_side, dict) else {}
    golden = golden_sha256 or _golden(data, {})
    name = variant or summary.get("label") or data.get("variant") or side
    values = metrics if metrics is not None else summary.get("metrics", data.get("metrics"))
    if not isinstance(golden, str) or not golden:
        raise RegistryError(
            f"{path or 'eval'}: the golden set hash is required (golden.hash or --golden-sha256)"
        )
    if not isinstance(values, dict):
        raise RegistryError(f"{path or 'eval'}: metrics must be a mapping of name to value")
    return EvalRecord(golden, str(name), dict(values), path, digest)
