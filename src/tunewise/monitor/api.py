"""`run_monitor`: what `tunewise monitor FEATURE` does, as one library call.

    result = run_monitor("support-intent", cfg, JsonlRequests("requests.jsonl"), since="7d")
    result.fired        # triggers that fired (see triggers.py)
    result.paths        # monitor.json, monitor.html

The serving model and its training data come from the registry (`FEATURE@production` by default),
or from `train=` and `model=` when there is no registry to ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tunewise.artifacts import atomic_write_json, atomic_write_text
from tunewise.config import ProjectConfig
from tunewise.errors import ConfigError, DataError
from tunewise.monitor.context import ModelContext, from_registry
from tunewise.monitor.requests import RequestSource, parse_duration, parse_time
from tunewise.monitor.triggers import EVENT_KIND, call_webhook, evaluate_triggers, webhook_payload


@dataclass
class MonitorResult:
    """The report, what fired, and what was done about it."""

    report: dict[str, Any]
    paths: dict[str, Path]
    fired: list[dict[str, Any]] = field(default_factory=list)
    event: dict[str, Any] | None = None
    webhook: dict[str, Any] | None = None


def window(
    since: str | datetime | None, until: datetime | None, default: str
) -> tuple[datetime, datetime]:
    """(since, until) from a duration (`7d`) or a time; until defaults to now."""
    end = until.astimezone(UTC) if until else datetime.now(UTC)
    if isinstance(since, datetime):
        return since.astimezone(UTC), end
    text = since or default
    try:
        return end - parse_duration(text), end
    except ConfigError:
        try:
            return parse_time(text), end
        except ValueError:
            raise ConfigError(
                f"since '{text}': use a duration (7d, 36h, 90m) or an ISO 8601 time"
            ) from None


def _scrubber(cfg: ProjectConfig) -> Any:
    from tunewise.data.pii import Placeholders, redact_text

    pii = cfg.data.pii.model_copy(update={"mode": "redact"})
    mapping = Placeholders()  # one run, one table: the same email gets the same placeholder
    return lambda text: redact_text(text, pii, mapping)


def _schema(cfg: ProjectConfig) -> dict[str, Any] | str | None:
    schema = cfg.data.quality.output_json_schema
    return str(cfg.resolve(schema)) if isinstance(schema, str) else schema


def _context(
    feature: str, cfg: ProjectConfig, model: str | None, train: str | Path | None
) -> ModelContext:
    if train is not None:
        return ModelContext(feature=feature, model=model, train_path=Path(train))
    from tunewise.registry import Registry

    with Registry(config_url=cfg.registry.url) as reg:
        return from_registry(feature, cfg.monitor.alias, reg, model)


def _record_event(
    cfg: ProjectConfig, report: dict[str, Any], fired: list[dict[str, Any]], path: Path
) -> dict[str, Any]:
    from tunewise.registry import Registry

    with Registry(config_url=cfg.registry.url) as reg:
        return reg.record_event(EVENT_KIND, feature=report["feature"], model=report.get("model"),
                                detail={"fired": fired, "report": str(path), "window": report["window"]})  # fmt: skip


def export_for_review(
    feature: str,
    cfg: ProjectConfig,
    source: RequestSource,
    out: str | Path,
    *,
    since: str | datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> dict[str, Any]:
    """`tunewise monitor FEATURE --export-review FILE`: a sample of the window's logged texts to
    review (see review.py); DataError when the window holds none."""
    from tunewise.monitor.review import export_review

    start, end = window(since, until, cfg.monitor.window)
    done = export_review(
        source.iter_requests(feature, start, end), out, limit=limit, seed=cfg.monitor.seed
    )
    if not done["rows"]:
        raise DataError(f"no logged request of '{feature}' with its text between {start:%Y-%m-%d %H:%M} and "
                        f"{end:%Y-%m-%d %H:%M} UTC; the gateway logs texts for serve.log_text_share of requests")  # fmt: skip
    return done


def run_monitor(
    feature: str,
    cfg: ProjectConfig,
    source: RequestSource,
    *,
    since: str | datetime | None = None,
    until: datetime | None = None,
    out_dir: str | Path | None = None,
    model: str | None = None,
    train: str | Path | None = None,
    record: bool = True,
    reviewed: str | Path | None = None,
) -> MonitorResult:
    """Analyze `feature`'s traffic in the window, write monitor.json and monitor.html, evaluate the
    triggers; fired triggers become a registry event (when `record` and the model is registered)
    and a webhook call (when configured). `reviewed`: a filled review file whose answers join
    the logged rows by request id (scored with the eval's primary metric, as reviews in the log)."""
    from tunewise.evaluate.fewshot import load_examples
    from tunewise.monitor.analyze import analyze
    from tunewise.monitor.html import render_html

    start, end = window(since, until, cfg.monitor.window)
    ctx = _context(feature, cfg, model, train)
    assert ctx.train_path is not None
    examples = load_examples(ctx.train_path)
    # One streaming pass: the window is never held in memory (the store reads it in pages).
    requests = source.iter_requests(feature, start, end)
    if reviewed is not None:
        from tunewise.monitor.review import review_answers, with_reviews

        requests = with_reviews(requests, review_answers(reviewed))
    report = analyze(requests, examples, ctx, cfg.monitor,
                     label_field=cfg.monitor.label_field or cfg.eval.label_field,
                     schema=_schema(cfg), scrub=_scrubber(cfg), since=start, until=end,
                     reference=_reference_scorers(cfg))  # fmt: skip
    fired = evaluate_triggers(report, cfg.monitor.triggers)
    report["triggers"] = {"fired": fired, "config": cfg.monitor.triggers.model_dump(mode="json")}
    out = (
        Path(out_dir)
        if out_dir
        else Path(cfg.run.runs_dir) / "monitor" / f"{feature}-{end:%Y%m%dT%H%M%S}"
    )
    paths = {"json": out / "monitor.json", "html": out / "monitor.html"}
    result = MonitorResult(report, paths, fired)
    if fired and record and train is None:
        result.event = _record_event(cfg, report, fired, paths["json"])
    report["triggers"].update(event=result.event, webhook=None)
    atomic_write_json(paths["json"], report)
    atomic_write_text(paths["html"], render_html(report))
    if fired and cfg.monitor.triggers.webhook:  # after the files: the hook may fetch the report
        payload = webhook_payload(report, fired, str(paths["json"]))
        result.webhook = call_webhook(
            cfg.monitor.triggers.webhook, payload, cfg.monitor.triggers.webhook_timeout_s
        )
        report["triggers"]["webhook"] = result.webhook
        atomic_write_json(paths["json"], report)
    return result


def _reference_scorers(cfg: ProjectConfig) -> list[Any]:
    """The eval's primary metric as a scorer for reviewed rows, when it compares with the right
    answer (exact match, a label, a similarity; not the reference-free checks or the LLM judge)."""
    from tunewise.evaluate.scorers import build_scorer
    from tunewise.monitor.quality import LIVE

    primary = cfg.eval.primary_metric
    spec = next((s for s in cfg.eval.scorers if s.name == primary), None)
    if spec is None or primary in (*LIVE, "judge"):
        return []
    return [build_scorer(spec.name, spec.params)]
