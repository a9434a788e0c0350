"""A claimed job in `validating_files`: its files checked, made into a dataset version, queued.

Runs in the worker process. A file problem fails the job with OpenAI's error object (code,
message, param); anything else the server did wrong fails it as `validation_error` with the
reason logged. "auto" hyperparameters are resolved here, so the job object shows what trains.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tunewise.serve.finetune.checks import FileProblem, check_file
from tunewise.serve.finetune.dataset import DatasetVersion, build_dataset
from tunewise.serve.finetune.queue import release
from tunewise.serve.finetune.service import FineTuning, job_row
from tunewise.serve.finetune.tables import ApiJobRow
from tunewise.store import transaction

log = logging.getLogger("tunewise.worker")
EXPECT = ("validating_files",)


def validate_job(ft: FineTuning, job_id: str) -> bool:
    """Validate one claimed job; True when it was queued. The job never stays claimed."""
    try:
        return _validate(ft, job_id)
    except FileProblem as problem:
        _fail(ft, job_id, problem.as_error())
    except Exception as exc:
        log.exception("validating job %s failed", job_id)
        _fail(
            ft,
            job_id,
            {
                "code": "validation_error",
                "message": f"The server could not validate the files ({type(exc).__name__}: {exc})",
                "param": None,
            },
        )
    return False


def _validate(ft: FineTuning, job_id: str) -> bool:
    with transaction(ft.engine) as s:
        job, api = job_row(s, job_id), s.get(ApiJobRow, job_id)
        assert job is not None and api is not None
        base, data, config, method = job.base, Path(job.data), dict(job.config), dict(api.method)
        work, has_validation = Path(api.workdir), api.validation_file is not None
    kind = "dpo" if config["method"] == "dpo" else "supervised"
    train = work / "training.jsonl"
    valid = work / "validation.jsonl" if has_validation else None
    check_file(train, param="training_file", method=kind, min_examples=ft.cfg.min_examples)
    if valid is not None:
        check_file(valid, param="validation_file", method=kind)
    version = build_dataset(
        train, valid, data, base=base, policy=ft.cfg.data, min_examples=ft.cfg.min_examples
    )
    resolved, method = _resolve(config, method, version, ft.defaults.learning_rate)
    return release(
        ft.engine,
        job_id,
        expect=EXPECT,
        status="queued",
        events=tuple(_events(version)),
        config=resolved,
        api_fields={"method": method, "dataset_sha256": version.sha256},
    )


def _resolve(
    config: dict[str, Any], method: dict[str, Any], version: DatasetVersion, lr_base: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """ "auto" made concrete: epochs by OpenAI's heuristic on the example count."""
    from tunewise.data.cost import auto_epochs

    config = dict(config)
    if config["epochs"] == "auto":
        config["epochs"] = auto_epochs(version.train)
    kind = method["type"]
    hyper = dict(method[kind]["hyperparameters"])
    hyper.update(
        n_epochs=config["epochs"],
        batch_size=config["batch_size"],
        learning_rate_multiplier=round(config["learning_rate"] / lr_base, 6),
    )
    if kind == "dpo":
        hyper["beta"] = config["dpo_beta"]
    return config, {"type": kind, kind: {"hyperparameters": hyper}}


def _events(v: DatasetVersion) -> list[tuple[str, str]]:
    counts = f"{v.train} training examples ({v.tokens:,} tokens)"
    if v.validation:
        counts += f", {v.validation} validation examples"
    events = [("info", f"Dataset version {v.sha256[:12]}: {counts}")]
    if v.dropped:
        said = ", ".join(
            f"{n} {k.replace('duplicates_', '')} duplicate(s)" for k, n in v.dropped.items()
        )
        events.append(("warn", f"Data policy removed {said}; kept in the dataset's rejects file"))
    if v.pii.get("rows_with_pii"):
        events.append(
            ("warn", f"Data policy: PII in {v.pii['rows_with_pii']} example(s) ({v.pii['mode']})")
        )
    events.append(("info", "Files validated, moving job to queued state"))
    return events


def _fail(ft: FineTuning, job_id: str, error: dict[str, Any]) -> None:
    release(
        ft.engine,
        job_id,
        expect=EXPECT,
        status="failed",
        error=error,
        events=(("error", error["message"]),),
    )
