"""`tunewise train --backend bedrock`: fine-tuning jobs on Amazon Bedrock, mirrored in the job store.

submit: the dataset folder is converted to the base family's format (bedrock_format), uploaded to
S3, and a model customization job is created; the tunewise job records the provider's names in
`result`. Polling (with backoff) maps Bedrock's statuses onto OpenAI's (InProgress -> running,
Completed -> succeeded, Failed -> failed, Stopping/Stopped -> cancelled) and mirrors metrics as
events; on Completed the `outputModelArn` is registered with its dataset and job. Import jobs made
by `tunewise export bedrock` live in the same store (method `import`) and poll through here too.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunewise.errors import ConfigError, DataError, JobError, TunewiseError
from tunewise.train import aws
from tunewise.train.backend import TrainRequest, register_backend
from tunewise.train.bedrock_format import Family, convert_file, family_for, hyperparameters
from tunewise.train.bedrock_mirror import refresh_import, register_dataset, registry_call
from tunewise.train.jobs import TERMINAL, Job, JobStore

Echo = Callable[[str], None]


@dataclass
class Plan:
    """Everything a customization job needs, checked before anything is created."""

    base_model: str
    family: str
    role_arn: str
    bucket: str
    prefix: str
    region: str | None
    job_name: str
    model_name: str
    hyperparameters: dict[str, str]
    ignored: list[str]

    def uri(self, leaf: str) -> str:
        return f"s3://{self.bucket}/{self.key(leaf)}"

    def key(self, leaf: str) -> str:
        return "/".join(p for p in (self.prefix, self.job_name, leaf) if p)


def plan_job(request: TrainRequest) -> Plan:
    """Settings for a Bedrock job from the train config; one ConfigError lists every gap."""
    cfg, bc = request.config, request.config.bedrock
    base = bc.base_model or cfg.base
    missing = [
        f"{field} (--{flag})"
        for field, flag, value in (
            ("train.bedrock.role_arn", "bedrock-role", bc.role_arn),
            ("train.bedrock.bucket", "bedrock-bucket", bc.bucket),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            "Bedrock training needs " + " and ".join(missing) + f": the IAM role Bedrock assumes "
            f"and the S3 bucket it reads the data from; see {aws.DOCS}"
        )
    family = family_for(base, bc.family)
    params, ignored = hyperparameters(cfg, family)
    token = uuid.uuid4().hex[:8]
    return Plan(
        base_model=base,
        family=family.name,
        role_arn=str(bc.role_arn),
        bucket=str(bc.bucket),
        prefix=bc.prefix.strip("/"),
        region=bc.region,
        job_name=f"tunewise-{token}",
        model_name=bc.custom_model_name or aws.safe_name(f"{request.data.name}-{token}"),
        hyperparameters=params,
        ignored=ignored,
    )


class BedrockBackend:
    """Model customization jobs on Amazon Bedrock, recorded in tunewise's job store."""

    name = "bedrock"

    def __init__(
        self,
        store: JobStore | None = None,
        *,
        client: Callable[[str, str | None], Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        registry_url: str | None = None,
    ) -> None:
        self.store = store or JobStore()
        self.client = client or aws.client
        self.sleep = sleep
        self.registry_url = registry_url

    # ---- the TrainingBackend protocol ---------------------------------------------------------

    def submit(self, request: TrainRequest) -> Job:
        """Convert, upload and create the job; wait for it unless `request.extra['wait']` is False."""
        plan = plan_job(request)
        cfg = request.config
        job = self.store.create(
            method=cfg.method,
            base=plan.base_model,
            data=str(request.data.resolve()),
            out=plan.uri("output/"),
            config=cfg.model_dump(mode="json"),
            backend=self.name,
        )
        try:
            self._start(job.id, request.data, plan, family_for(plan.base_model, plan.family))
        except TunewiseError as exc:
            code = "invalid_file" if isinstance(exc, DataError) else "bedrock_error"
            self._fail(job.id, code, str(exc))
            raise
        if not request.extra.get("wait", True):
            return self.store.get(job.id)
        return self.wait(job.id, echo=stderr_echo if request.progress else None)

    def status(self, job_id: str) -> Job:
        """The job after one poll of Bedrock (no call when it already ended)."""
        job = self.store.get(job_id)
        if job.status in TERMINAL or not (job.result or {}).get("job_arn"):
            return job
        if job.method == "import":
            return refresh_import(self, job)
        return self._refresh(job)

    def events(
        self, job_id: str, after: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        self.status(job_id)
        return self.store.events(job_id, after=after, limit=limit)

    def cancel(self, job_id: str) -> Job:
        """Stop the Bedrock job (StopModelCustomizationJob) and mark the tunewise job cancelled."""
        job = self.store.get(job_id)
        if job.status in TERMINAL:
            raise JobError(f"job {job_id} is already {job.status}; nothing to cancel")
        info = job.result or {}
        if job.method == "import":
            raise JobError(
                f"job {job_id} is a Bedrock Custom Model Import, which cannot be stopped; once it "
                "ends, delete the model with aws bedrock delete-imported-model if unwanted"
            )
        if info.get("job_name"):
            br = self.client("bedrock", info.get("region"))
            try:
                br.stop_model_customization_job(jobIdentifier=info["job_name"])
            except Exception as exc:
                raise aws.provider_error(exc, f"stopping Bedrock job {info['job_name']}") from exc
            self.store.event(job_id, f"Stop requested on Bedrock for {info['job_arn']}")
        return self.store.request_cancel(job_id)

    def resume(self, job_id: str, progress: bool = True) -> Job:
        """Wait again for a job (after Ctrl-C or `--no-wait`); Bedrock kept it running."""
        job = self.store.get(job_id)
        if job.status in TERMINAL:
            raise JobError(f"job {job_id} already {job.status}; see tunewise jobs show {job_id}")
        return self.wait(job_id, echo=stderr_echo if progress else None)

    # ---- polling --------------------------------------------------------------------------------

    def wait(self, job_id: str, *, echo: Echo | None = None) -> Job:
        """Poll until the job ends: the wait grows 1.5x while nothing changes, and on throttling."""
        bc = _bedrock_settings(self.store.get(job_id))
        delay, last, seen = bc["poll_seconds"], None, None
        try:
            while True:
                slowed = False
                try:
                    job = self.status(job_id)
                except TunewiseError as exc:
                    if not aws.throttled(exc):
                        raise
                    job, slowed = self.store.get(job_id), True
                seen = _echo_events(self.store, job_id, seen, echo)
                if job.status in TERMINAL:
                    return job
                state = (job.status, (job.result or {}).get("provider_status"))
                if slowed:
                    delay *= 2
                else:
                    delay = bc["poll_seconds"] if state != last else delay * 1.5
                last, delay = state, min(delay, bc["max_poll_seconds"])
                self.sleep(delay)
        except KeyboardInterrupt:
            raise JobError(
                f"stopped waiting; job {job_id} keeps running on Bedrock. Follow it with tunewise "
                f"jobs show {job_id}, wait again with tunewise train --resume {job_id}, or stop it "
                f"with tunewise jobs cancel {job_id}"
            ) from None

    # ---- internals ------------------------------------------------------------------------------

    def _start(self, job_id: str, data: Path, plan: Plan, family: Family) -> None:
        store = self.store
        files: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory(prefix="tunewise-bedrock-") as tmp:
            for split in ("train", "validation"):
                src = data / f"{split}.jsonl"
                if not src.is_file() or (split == "validation" and not src.read_text().strip()):
                    if split == "train":
                        raise JobError(
                            f"{data}: no train.jsonl; pass a folder from tunewise data prepare"
                        )
                    continue
                store.event(job_id, f"Validating {split} file: {src}")
                dst = Path(tmp) / f"{split}.jsonl"
                files[split] = {"rows": convert_file(src, dst, family), "path": dst}
            counts = ", ".join(f"{k}: {v['rows']} rows" for k, v in files.items())
            store.event(
                job_id,
                f"Files validated ({counts}, {family.format} format for {family.label}), "
                "moving job to queued state",
            )
            if plan.ignored:
                store.event(
                    job_id,
                    f"Not used on {family.label}: {', '.join(plan.ignored)}",
                    level="warn",
                )
            s3 = self.client("s3", plan.region)
            aws.check_bucket(s3, plan.bucket, plan.role_arn)
            for split, info in files.items():
                info["s3_uri"] = aws.upload(
                    s3, info.pop("path"), plan.bucket, plan.key(f"{split}.jsonl")
                )
                store.event(job_id, f"Uploaded {split} file to {info['s3_uri']}")
        dataset = register_dataset(self, job_id, data)
        arn = self._create(job_id, plan, files)
        result = {
            "provider": "bedrock",
            **{k: v for k, v in asdict(plan).items() if k != "ignored"},
            "job_arn": arn,
            "files": files,
            "dataset_sha256": dataset,
            "provider_status": None,
        }
        store.set_status(job_id, "queued", result=result)
        store.event(job_id, f"Created Bedrock model customization job: {arn}")
        registry_call(
            self,
            job_id,
            lambda reg: reg.register_job(
                "bedrock",
                local_job_id=job_id,
                provider_job_id=arn,
                dataset=dataset,
                status="queued",
            ),
        )

    def _create(self, job_id: str, plan: Plan, files: dict[str, dict[str, Any]]) -> str:
        br = self.client("bedrock", plan.region)
        kwargs: dict[str, Any] = {
            "jobName": plan.job_name,
            "customModelName": plan.model_name,
            "roleArn": plan.role_arn,
            "clientRequestToken": plan.job_name,  # a retried call cannot create a second job
            "baseModelIdentifier": plan.base_model,
            "customizationType": "FINE_TUNING",
            "trainingDataConfig": {"s3Uri": files["train"]["s3_uri"]},
            "outputDataConfig": {"s3Uri": plan.uri("output/")},
            "hyperParameters": plan.hyperparameters,
            "jobTags": [{"key": "tunewise-job", "value": job_id}],
        }
        if "validation" in files:
            kwargs["validationDataConfig"] = {
                "validators": [{"s3Uri": files["validation"]["s3_uri"]}]
            }
        try:
            return str(br.create_model_customization_job(**kwargs)["jobArn"])
        except Exception as exc:
            raise aws.provider_error(
                exc,
                "creating the Bedrock customization job",
                role=plan.role_arn,
                bucket=plan.bucket,
            ) from exc

    def _refresh(self, job: Job) -> Job:
        from tunewise.train.bedrock_mirror import apply_status

        info = job.result or {}
        br = self.client("bedrock", info.get("region"))
        try:
            resp = br.get_model_customization_job(jobIdentifier=info["job_name"])
        except Exception as exc:
            raise aws.provider_error(exc, f"reading Bedrock job {info['job_name']}") from exc
        return apply_status(self, job, resp)

    def _fail(self, job_id: str, code: str, message: str) -> None:
        self.store.set_status(
            job_id, "failed", error={"code": code, "message": message, "param": None}
        )
        self.store.event(job_id, f"Job failed: {message}", level="error")


def _bedrock_settings(job: Job) -> dict[str, float]:
    bc = (job.config or {}).get("bedrock") or {}
    return {
        "poll_seconds": float(bc.get("poll_seconds", 30.0)),
        "max_poll_seconds": float(bc.get("max_poll_seconds", 300.0)),
    }


def _echo_events(store: JobStore, job_id: str, after: str | None, echo: Echo | None) -> str | None:
    """Print events newer than `after`; returns the id of the last one."""
    events = store.events(job_id, after=after, limit=1000)
    for e in events:
        if echo:
            echo(f"[{e['level']}] {e['message']}")
    return events[-1]["id"] if events else after


def stderr_echo(line: str) -> None:
    from tunewise.cli._console import err_console

    err_console.print(line, markup=False, highlight=False)


register_backend("bedrock", BedrockBackend)
