"""Triggers: which checks of a monitor run fired, recording them in the registry, the webhook.

Each fired trigger is `{"trigger", "detail", "value", "limit"}`. A run with any fired trigger is
recorded as one registry event (kind `monitor.trigger`) and POSTed to the configured webhook as
`{"event": "tunewise.monitor.trigger", "feature", "model", "fired": [...], "report": path}`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tunewise import __version__
from tunewise.monitor.config import TriggerConfig

EVENT_KIND = "monitor.trigger"


def _fired(trigger: str, detail: str, value: Any, limit: Any) -> dict[str, Any]:
    return {"trigger": trigger, "detail": detail, "value": value, "limit": limit}


def _drift(report: dict[str, Any], cfg: TriggerConfig) -> list[dict[str, Any]]:
    out = []
    clf = report.get("input_drift", {}).get("classifier") or {}
    if cfg.drift and clf.get("drifted"):
        null = f", null 95% {clf['null_q95']:.3f}" if clf.get("null_q95") is not None else ""
        out.append(_fired("input_drift", f"domain classifier ROC AUC {clf['auc']:.3f}{null}",
                          clf["auc"], clf["threshold"]))  # fmt: skip
    share = (report.get("input_drift", {}).get("outliers") or {}).get("share")
    if cfg.outlier_share is not None and share is not None and share >= cfg.outlier_share:
        out.append(_fired("outliers", f"{share:.1%} of inputs are far from the training set",
                          share, cfg.outlier_share))  # fmt: skip
    labels = report.get("output_drift", {}).get("labels") or {}
    if cfg.label_psi is not None and labels.get("psi", 0) >= cfg.label_psi:
        out.append(_fired("label_mix", f"label PSI {labels['psi']:.3f} ({labels['psi_band']})",
                          labels["psi"], cfg.label_psi))  # fmt: skip
    return out


def evaluate_triggers(report: dict[str, Any], cfg: TriggerConfig) -> list[dict[str, Any]]:
    """The triggers a monitor report fires under `cfg`."""
    out = _drift(report, cfg)
    if cfg.quality_margin is not None:
        for c in report.get("quality", {}).get("vs_eval", []):
            if c["below"]:
                out.append(_fired(f"quality:{c['metric']}",
                                  f"live {c['live']:.3f} vs eval {c['eval']:.3f} (n={c['n']})",
                                  c["live"], round(c["eval"] - cfg.quality_margin, 6)))  # fmt: skip
    if cfg.max_age_days is not None:
        for key, what in (("model_age_days", "model age"), ("days_since_eval", "days since its last eval"),
                          ("data_age_days", "training data age")):  # fmt: skip
            value = report.get("staleness", {}).get(key)
            if value is not None and value > cfg.max_age_days:
                out.append(
                    _fired(f"age:{key}", f"{what} {value:.0f} days", value, cfg.max_age_days)
                )
    reviewed = report.get("traffic", {}).get("reviewed", 0)
    if cfg.reviewed_rows is not None and reviewed >= cfg.reviewed_rows:
        out.append(_fired("reviewed_rows", f"{reviewed} reviewed production rows", reviewed,
                          cfg.reviewed_rows))  # fmt: skip
    return out


def webhook_payload(
    report: dict[str, Any], fired: list[dict[str, Any]], path: str | None
) -> dict[str, Any]:
    return {"event": "tunewise.monitor.trigger", "tunewise_version": __version__,
            "feature": report["feature"], "model": report.get("model"),
            "window": report["window"], "fired": fired, "report": path}  # fmt: skip


def call_webhook(url: str, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """POST the payload as JSON; the outcome (status or error) is returned, never raised: a broken
    hook must not hide the report."""
    body = json.dumps(payload).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"tunewise/{__version__}"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return {"url": url, "status": resp.status}
    except urllib.error.HTTPError as exc:
        return {"url": url, "status": exc.code, "error": f"HTTP {exc.code} {exc.reason}"}
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return {"url": url, "status": None, "error": f"could not reach the webhook: {reason}"}
