"""`--backend bedrock` against moto's Bedrock and S3: the job moves to Completed the way moto allows
(its jobs stay InProgress), by setting the status in moto's backend state, as Bedrock would."""

from __future__ import annotations

import json

import pytest
from train_rows import write_dataset
from typer.testing import CliRunner

from tunewise.cli import app
from tunewise.errors import ConfigError, DataError, ProviderError
from tunewise.train.backend import TrainRequest, get_backend
from tunewise.train.config import TrainConfig

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

REGION = "us-east-1"
BUCKET = "tw-train-data"
ROLE = "arn:aws:iam::123456789012:role/tunewise-bedrock"
NOVA = "amazon.nova-micro-v1:0:128k"


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield


def moto_job(name: str):
    from moto.bedrock.models import bedrock_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    return bedrock_backends[DEFAULT_ACCOUNT_ID][REGION].model_customization_jobs[name]


def s3_text(key: str) -> str:
    obj = boto3.client("s3", region_name=REGION).get_object(Bucket=BUCKET, Key=key)
    return obj["Body"].read().decode()


def config(base: str = NOVA, **kw) -> TrainConfig:
    bedrock = {"role_arn": ROLE, "bucket": BUCKET, "region": REGION, "poll_seconds": 1.0}
    bedrock.update(kw.pop("bedrock", {}))
    return TrainConfig.model_validate(
        {"base": base, "backend": "bedrock", "bedrock": bedrock, **kw}
    )


def finish_on_bedrock(name: str, output_prefix: str) -> None:
    """What Bedrock does when training ends: metrics CSVs in the output folder, status Completed."""
    s3 = boto3.client("s3", region_name=REGION)
    folder = f"{output_prefix}model-customization-job-abc123"
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{folder}/training_artifacts/step_wise_training_metrics.csv",
        Body=b"step_number,epoch_number,training_loss,perplexity\n0,0,2.5,12.2\n1,0,1.75,5.8\n2,1,0.9,2.5\n",
    )
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{folder}/validation_artifacts/post_fine_tuning_validation/validation/validation_metrics.csv",
        Body=b"step_number,epoch_number,validation_loss,perplexity\n2,1,1.1,3.0\n",
    )
    job = moto_job(name)
    job.training_metrics = {"trainingLoss": 0.9}
    job.validation_metrics = [{"validationLoss": 1.1}]
    job.status = "Completed"


def test_submit_converts_uploads_polls_and_registers(aws, dataset):
    from tunewise.registry import Registry

    delays: list[float] = []
    backend = get_backend("bedrock", sleep=delays.append)
    cfg = config(epochs=3, learning_rate=5e-5, lora={"r": 8})

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 2:  # two polls see InProgress, the third sees Completed
            result = backend.store.list_jobs(limit=1)[0].result
            finish_on_bedrock(result["job_name"], f"tunewise/{result['job_name']}/output/")

    backend.sleep = sleep
    job = backend.submit(TrainRequest(data=dataset, config=cfg, progress=False))

    assert job.status == "succeeded" and job.backend == "bedrock"
    info = job.result
    remote = moto_job(info["job_name"])
    assert remote.hyper_parameters == {"epochCount": "3", "learningRate": "0.00005"}
    assert remote.base_model_identifier == NOVA and remote.role_arn == ROLE
    assert remote.customization_type == "FINE_TUNING"
    assert remote.training_data_config == {
        "s3Uri": f"s3://{BUCKET}/tunewise/{info['job_name']}/train.jsonl"
    }
    assert info["fine_tuned_model"] == remote.output_model_arn
    assert delays == [1.0, 1.5]

    rows = [json.loads(x) for x in s3_text(f"tunewise/{info['job_name']}/train.jsonl").splitlines()]
    assert len(rows) == 24 and rows[0]["schemaVersion"] == "bedrock-conversation-2024"
    assert [m["role"] for m in rows[0]["messages"]] == ["user", "assistant"]
    assert len(s3_text(f"tunewise/{info['job_name']}/validation.jsonl").splitlines()) == 8

    events = backend.store.events(job.id)
    messages = [e["message"] for e in events]
    assert "Fine-tuning job started on Bedrock" in messages
    assert any(m.startswith("Not used on Amazon Nova: lora.r") for m in messages)
    steps = [e["data"] for e in events if e["type"] == "metrics" and "step" in e["data"]]
    assert [s["step"] for s in steps] == [0, 1, 2]
    assert steps[-1] == {
        "step": 2,
        "epoch": 1,
        "train_loss": 0.9,
        "valid_loss": 1.1,
        "total_steps": 3,
    }
    assert f"New fine-tuned model created: {remote.output_model_arn}" in messages
    assert messages[-1] == "The job has successfully completed"
    assert job.result["metrics"] == {"steps": 3, "final_train_loss": 0.9, "valid_loss": 1.1}

    with Registry() as reg:
        chain = reg.lineage(remote.output_model_arn)
    assert chain["model"]["kind"] == "provider" and chain["model"]["base"]["id"] == NOVA
    assert chain["job"]["provider_job_id"] == info["job_arn"]
    assert chain["job"]["local_job_id"] == job.id and chain["job"]["status"] == "succeeded"
    assert chain["dataset"]["manifest_sha256"] == info["dataset_sha256"]


def test_polling_backs_off_while_nothing_changes(aws, dataset):
    delays: list[float] = []
    backend = get_backend("bedrock")
    cfg = config(bedrock={"poll_seconds": 2.0, "max_poll_seconds": 5.0})

    def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 5:
            moto_job(backend.store.list_jobs(limit=1)[0].result["job_name"]).status = "Completed"

    backend.sleep = sleep
    assert (
        backend.submit(TrainRequest(data=dataset, config=cfg, progress=False)).status == "succeeded"
    )
    assert delays == [2.0, 3.0, 4.5, 5.0, 5.0]


def test_failed_job_keeps_bedrocks_reason(aws, dataset):
    backend = get_backend("bedrock")
    job = backend.submit(
        TrainRequest(data=dataset, config=config(), progress=False, extra={"wait": False})
    )
    assert job.status == "queued"
    remote = moto_job(job.result["job_name"])
    remote.status, remote.failure_message = "Failed", "Training data has fewer than 8 records"
    job = backend.status(job.id)
    assert job.status == "failed"
    assert job.error == {
        "code": "bedrock_job_failed",
        "message": "Training data has fewer than 8 records",
        "param": None,
    }


def test_cli_no_wait_then_show_events_and_cancel(aws, dataset):
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "train", "--backend", "bedrock", "--data", str(dataset), "--base", NOVA,
            "--bedrock-role", ROLE, "--bedrock-bucket", BUCKET, "--bedrock-region", REGION,
            "--epochs", "2", "--no-wait", "--no-progress",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    job_id = res.output.split()[1]
    assert "queued on bedrock" in res.output

    shown = json.loads(runner.invoke(app, ["jobs", "show", job_id]).output)
    assert shown["status"] == "running" and shown["backend"] == "bedrock"
    assert shown["result"]["hyperparameters"] == {"epochCount": "2"}

    res = runner.invoke(app, ["jobs", "cancel", job_id])
    assert res.exit_code == 0 and "cancelled" in res.output
    assert moto_job(shown["result"]["job_name"]).status == "Stopped"
    events = json.loads(runner.invoke(app, ["jobs", "events", job_id, "--json"]).output)["data"]
    assert any("Stop requested on Bedrock" in e["message"] for e in events)
    again = runner.invoke(app, ["jobs", "cancel", job_id])
    assert again.exit_code != 0 and "already cancelled" in again.output


def test_cli_show_picks_up_completion_and_resume_reattaches(aws, dataset):
    runner = CliRunner()
    args = ["train", "--data", str(dataset), "--no-wait", "--no-progress"]
    yaml = dataset.parent / "tunewise.yaml"
    yaml.write_text(
        "train:\n  backend: bedrock\n  base: anthropic.claude-3-haiku-20240307-v1:0:200k\n"
        f"  bedrock: {{role_arn: '{ROLE}', bucket: {BUCKET}, region: {REGION}, poll_seconds: 0.01}}\n"
    )
    res = runner.invoke(app, [*args, "--config", str(yaml)])
    assert res.exit_code == 0, res.output
    job_id = res.output.split()[1]
    name = json.loads(runner.invoke(app, ["jobs", "show", job_id]).output)["result"]["job_name"]
    moto_job(name).status = "Completed"
    res = runner.invoke(app, ["train", "--resume", job_id, "--no-progress"])
    assert res.exit_code == 0, res.output
    assert f"succeeded on bedrock: {moto_job(name).output_model_arn}" in res.output
    row = json.loads(s3_text(f"tunewise/{name}/train.jsonl").splitlines()[0])
    assert set(row) == {"system", "messages"} and isinstance(row["messages"][0]["content"], str)


def test_rows_that_cannot_convert_fail_the_job_before_upload(aws, tmp_path):
    ds = write_dataset(tmp_path / "ds", n_train=12)
    lines = (ds / "train.jsonl").read_text().splitlines()
    row = json.loads(lines[6])
    row["messages"].append({"role": "assistant", "content": "also"})
    lines[6] = json.dumps(row)
    (ds / "train.jsonl").write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(
        app,
        [
            "train", "--backend", "bedrock", "--data", str(ds),
            "--base", "anthropic.claude-3-haiku-20240307-v1:0:200k",
            "--bedrock-role", ROLE, "--bedrock-bucket", BUCKET, "--no-progress",
        ],
    )  # fmt: skip
    assert res.exit_code == DataError.exit_code
    assert "train.jsonl line 7: messages[3].role" in res.output
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET)
    assert listed["KeyCount"] == 0
    from tunewise.train.jobs import JobStore

    job = JobStore().list_jobs(limit=1)[0]
    assert job.status == "failed" and job.error["code"] == "invalid_file"


def test_missing_role_and_bucket_are_named_before_any_job(aws, dataset):
    from tunewise.train.jobs import JobStore

    cfg = TrainConfig.model_validate({"base": NOVA, "backend": "bedrock"})
    with pytest.raises(ConfigError) as err:
        get_backend("bedrock").submit(TrainRequest(data=dataset, config=cfg))
    assert "train.bedrock.role_arn (--bedrock-role) and train.bedrock.bucket" in str(err.value)
    assert JobStore().list_jobs() == []


def test_missing_bucket_says_how_to_create_it(aws, dataset):
    cfg = config(bedrock={"bucket": "tw-no-such-bucket"})
    with pytest.raises(ProviderError, match=r"aws s3 mb s3://tw-no-such-bucket"):
        get_backend("bedrock").submit(TrainRequest(data=dataset, config=cfg, progress=False))


# ---- what moto cannot do: AWS's refusals, recorded as botocore's Stubber replays them -----------


def stubbed(service_client):
    """A client factory: S3 goes to moto, Bedrock to `service_client` (a Stubber'd client)."""
    from tunewise.train import aws as aws_mod

    real = aws_mod.client  # taken now: a test may monkeypatch aws.client with this factory
    return lambda service, region=None: (
        service_client if service == "bedrock" else real(service, region)
    )


@pytest.mark.parametrize(
    ("code", "message", "advice"),
    [
        (
            "AccessDeniedException",
            f"User: arn:aws:iam::123456789012:user/dev is not authorized to perform: iam:PassRole on resource: {ROLE}",
            f"iam:PassRole on {ROLE}",
        ),
        (
            "ValidationException",
            "The provided model identifier is invalid.",
            "list-foundation-models --by-customization-type FINE_TUNING",
        ),
        ("ThrottlingException", "Rate exceeded", "higher quota in the Service Quotas console"),
    ],
)
def test_refused_create_says_what_to_do(aws, dataset, code, message, advice):
    from botocore.stub import Stubber

    from tunewise.train.bedrock_backend import BedrockBackend

    br = boto3.client("bedrock", region_name=REGION)
    stub = Stubber(br)
    stub.add_client_error(
        "create_model_customization_job", service_error_code=code, service_message=message
    )
    backend = BedrockBackend(client=stubbed(br))
    with stub, pytest.raises(ProviderError) as err:
        backend.submit(TrainRequest(data=dataset, config=config(), progress=False))
    text = str(err.value)
    assert f"creating the Bedrock customization job: AWS {code}: {message}" in text
    assert advice in text
    job = backend.store.list_jobs(limit=1)[0]
    assert job.status == "failed" and job.error["code"] == "bedrock_error"


def test_throttled_poll_waits_longer_then_carries_on(aws, dataset):
    from botocore.stub import Stubber

    from tunewise.train.bedrock_backend import BedrockBackend

    moto_backend = BedrockBackend()
    job = moto_backend.submit(
        TrainRequest(data=dataset, config=config(), progress=False, extra={"wait": False})
    )
    name = job.result["job_name"]
    real = boto3.client("bedrock", region_name=REGION).get_model_customization_job(
        jobIdentifier=name
    )
    completed = {k: v for k, v in real.items() if k != "ResponseMetadata"} | {"status": "Completed"}

    br = boto3.client("bedrock", region_name=REGION)
    stub = Stubber(br)
    stub.add_client_error(
        "get_model_customization_job",
        service_error_code="ThrottlingException",
        service_message="Rate exceeded",
        expected_params={"jobIdentifier": name},
    )
    stub.add_response("get_model_customization_job", completed, {"jobIdentifier": name})
    delays: list[float] = []
    backend = BedrockBackend(client=stubbed(br), sleep=delays.append)
    with stub:
        done = backend.resume(job.id, progress=False)
        stub.assert_no_pending_responses()
    assert done.status == "succeeded" and delays == [2.0]


def test_jobs_show_falls_back_to_the_stored_state_when_aws_refuses(aws, dataset, monkeypatch):
    from botocore.stub import Stubber

    from tunewise.train import aws as aws_mod

    job = get_backend("bedrock").submit(
        TrainRequest(data=dataset, config=config(), progress=False, extra={"wait": False})
    )
    br = boto3.client("bedrock", region_name=REGION)
    stub = Stubber(br)
    stub.add_client_error(
        "get_model_customization_job",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: bedrock:GetModelCustomizationJob",
        expected_params={"jobIdentifier": job.result["job_name"]},
    )
    monkeypatch.setattr(aws_mod, "client", stubbed(br))
    with stub:
        res = CliRunner().invoke(app, ["jobs", "show", job.id])
    assert res.exit_code == 0
    assert "warning: not refreshed" in res.output and "AccessDeniedException" in res.output
    assert '"status": "queued"' in res.output
