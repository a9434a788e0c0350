"""The embedding classifier: the cheapest variant for label answers.

The last user message is embedded with the bundled MiniLM and one logistic regression per label
field (scikit-learn) picks the class; the answer is rendered in the feature's output format (see
labels.py), so it is scored by the same scorers as any model. A trained classifier is a folder:

    manifest.json   format, embedder identity and hash, training dataset hashes, answer format,
                    labels per head, training settings and figures, the weights file's hash
    weights.npz     per head: `<i>.coef` [classes x 384] and `<i>.intercept` [classes] (no pickle)

`load_classifier(folder).predict(messages) -> str` is all a server needs; prediction is numpy
only (scikit-learn is needed to train, not to serve).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewise import __version__
from tunewise.artifacts import atomic_write_bytes, atomic_write_json, read_json, sha256_file
from tunewise.data.schema import text_of
from tunewise.errors import DataError, ModelError, require

from .labels import AnswerFormat, answer_labels, infer_format, render

FORMAT = "tunewise.classifier/1"
Messages = list[dict[str, Any]]


def query_text(messages: Messages) -> str:
    """What the classifier reads: the last user message (system prompts are the same for every row)."""
    return next(
        (text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
    )


@dataclass
class Head:
    """One label field's linear classifier: scores = X @ coef.T + intercept."""

    field: str | None
    labels: list[Any]
    """Classes as JSON values (None: the field is left out of the answer)."""
    coef: Any
    intercept: Any

    def scores(self, x: Any) -> Any:
        return x @ self.coef.T + self.intercept

    def predict(self, x: Any) -> list[Any]:
        s = self.scores(x)
        if len(self.labels) == 2 and s.shape[1] == 1:  # scikit-learn's binary form: one column
            return [self.labels[int(v > 0)] for v in s[:, 0]]
        return [self.labels[i] for i in s.argmax(axis=1)]


@dataclass
class Classifier:
    """A loaded classifier folder."""

    folder: Path
    manifest: dict[str, Any]
    fmt: AnswerFormat
    heads: list[Head]

    def predict_batch(self, conversations: list[Messages]) -> list[str]:
        """Answers in the feature's output format, one per conversation."""
        from tunewise.embeddings import embed

        texts = [query_text(m) for m in conversations]
        x = embed(texts)
        per_head = [h.predict(x) for h in self.heads]
        return [
            render(self.fmt, {h.field: p[i] for h, p in zip(self.heads, per_head, strict=True)}, t)
            for i, t in enumerate(texts)
        ]

    def predict(self, messages: Messages) -> str:
        """The answer to one conversation (OpenAI-style messages)."""
        return self.predict_batch([messages])[0]

    def labels(self) -> dict[str, list[str]]:
        return {h.field or "answer": h.labels for h in self.heads}


def read_training_rows(train: Path) -> tuple[list[str], list[str]]:
    """(last user message, final assistant answer) of every chat row of a train JSONL."""
    users, answers = [], []
    for line_no, line in enumerate(train.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            msgs = json.loads(line)["messages"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(
                f"{train} line {line_no}: not a chat row with messages ({exc})"
            ) from exc
        said = [text_of(m.get("content")) for m in msgs if m.get("role") == "assistant"]
        if said:
            users.append(query_text([m for m in msgs if m.get("role") != "assistant"]))
            answers.append(said[-1])
    if not answers:
        raise DataError(f"{train}: no rows with an assistant answer to learn from")
    return users, answers


def _dataset_info(train: Path, rows: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "train_file": train.name,
        "train_sha256": sha256_file(train),
        "rows": rows,
    }
    manifest = train.parent / "manifest.json"
    if manifest.is_file():  # a dataset version folder: lineage links the classifier to it
        info.update(path=str(train.parent.resolve()), manifest_sha256=sha256_file(manifest))
    return info


def _fit(x: Any, values: list[Any], c: float) -> tuple[list[Any], Any, Any]:
    """(classes as JSON values, coef, intercept); classes are fitted by their canonical JSON text."""
    import numpy as np

    linear = require("sklearn.linear_model", "eval", "training the embedding classifier")
    y = [json.dumps(v, sort_keys=True, ensure_ascii=False) for v in values]
    if len(set(y)) == 1:  # a field that never varies: predict the constant
        return [values[0]], np.zeros((1, x.shape[1]), np.float32), np.zeros(1, np.float32)
    model = linear.LogisticRegression(C=c, max_iter=2000).fit(x, y)
    classes = [json.loads(k) for k in model.classes_]
    return classes, model.coef_.astype(np.float32), model.intercept_.astype(np.float32)


def train_classifier(
    train: str | Path,
    out: str | Path,
    *,
    label_field: str | None = None,
    schema: dict[str, Any] | None = None,
    c: float = 1.0,
) -> Classifier:
    """Train on a train JSONL (chat rows) and write the classifier folder; NotALabelTask if answers are not labels."""
    import numpy as np

    from tunewise.embeddings import embed, embedder_identity, minilm_folder

    train = Path(train)
    if not train.is_file():
        raise DataError(f"{train}: no such train file")
    users, answers = read_training_rows(train)
    fmt = infer_format(answers, users, label_field=label_field, schema=schema)
    targets = [answer_labels(fmt, a) for a in answers]
    x = embed(users)
    heads, arrays, described = [], {}, []
    for i, fld in enumerate(fmt.label_fields or [None]):
        y = [t[fld] for t in targets]
        labels, coef, intercept = _fit(x, y, c)
        head = Head(fld, labels, coef, intercept)
        heads.append(head)
        arrays[f"{i}.coef"], arrays[f"{i}.intercept"] = coef, intercept
        accuracy = float(np.mean([p == t for p, t in zip(head.predict(x), y, strict=True)]))
        counts = [sum(v == lab for v in y) for lab in labels]
        described.append(
            {"field": fld, "labels": labels, "counts": counts, "train_accuracy": accuracy}
        )
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    out = Path(out)
    weights = atomic_write_bytes(out / "weights.npz", buf.getvalue())
    embedder = embedder_identity()
    sklearn = require("sklearn", "eval", "training the embedding classifier")
    manifest = {
        "format": FORMAT,
        "kind": "classifier",
        "tunewise_version": __version__,
        "base_model": {"id": embedder["id"], "hash": embedder["sha256"], "path": str(minilm_folder())},
        "embedder": embedder,
        "dataset": _dataset_info(train, len(answers)),
        "output": fmt.to_json(),
        "heads": described,
        "training": {"algorithm": "logistic_regression", "C": c, "library": f"scikit-learn {sklearn.__version__}",
                     "input": "last user message"},
        "weights": {"file": weights.name, "sha256": sha256_file(weights)},
    }  # fmt: skip
    atomic_write_json(out / "manifest.json", manifest)
    return load_classifier(out)


def is_classifier(folder: str | Path) -> bool:
    path = Path(folder) / "manifest.json"
    try:
        return path.is_file() and read_json(path).get("format") == FORMAT
    except (OSError, ValueError):
        return False


def load_classifier(folder: str | Path) -> Classifier:
    """A classifier folder, checked: its format, its weights' hash, and the installed embedder's hash."""
    import numpy as np

    from tunewise.embeddings import embedder_identity

    folder = Path(folder)
    if not is_classifier(folder):
        raise ModelError(
            f"{folder}: not a tunewise classifier folder (manifest.json format {FORMAT})"
        )
    manifest = read_json(folder / "manifest.json")
    weights = folder / manifest["weights"]["file"]
    if not weights.is_file() or sha256_file(weights) != manifest["weights"]["sha256"]:
        raise ModelError(
            f"{weights}: missing or changed since training (hash differs from manifest.json)"
        )
    trained_on, installed = manifest["embedder"]["sha256"], embedder_identity()["sha256"]
    if trained_on != installed:
        raise ModelError(
            f"{folder}: trained on embedder {trained_on[:12]} but the installed MiniLM is {installed[:12]}; retrain it"
        )
    with np.load(weights, allow_pickle=False) as arrays:
        heads = [
            Head(h["field"], h["labels"], arrays[f"{i}.coef"], arrays[f"{i}.intercept"])
            for i, h in enumerate(manifest["heads"])
        ]
    return Classifier(folder, manifest, AnswerFormat.from_json(manifest["output"]), heads)
