"""`tunewise export bedrock`: merge a real adapter, upload to (moto) S3, start a Custom Model Import.

moto has no model import jobs, so the Bedrock calls go through botocore's Stubber, which checks
every request parameter exactly and replays response shapes from the service model.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from train_rows import write_dataset
from typer.testing import CliRunner

from tunewise.cli import app

pytest.importorskip("torch")
boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

REGION = "us-east-1"
BUCKET = "tw-model-weights"
ROLE = "arn:aws:iam::123456789012:role/tunewise-import"
IMPORT_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-import-job/abcd1234efgh"
MODEL_ARN = "arn:aws:bedrock:us-east-1:123456789012:imported-model/wxyz9876"
SOURCE = {"s3DataSource": {"s3Uri": f"s3://{BUCKET}/models/support-v1/"}}
CREATE = {
    "jobName": "tunewise-import-support-v1",
    "importedModelName": "support-v1",
    "roleArn": ROLE,
    "modelDataSource": SOURCE,
}


@pytest.fixture(scope="module")
def adapter(tiny_model, tmp_path_factory):
    """A real LoRA adapter (non-zero B, so merging changes the weights) with its manifest."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tunewise.models import model_hash
    from tunewise.train.manifest import write_manifest

    root = tmp_path_factory.mktemp("export")
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    torch.manual_seed(0)
    for name, p in peft.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)
    out = root / "support-v1"
    peft.save_pretrained(out)
    write_manifest(
        out,
        kind="lora",
        base_id=str(tiny_model),
        base_path=tiny_model,
        base_hash=model_hash(tiny_model),
        data_dir=write_dataset(root / "ds"),
        config={},
        metrics={},
        tokens_trained=0,
        wall_time_s=0.0,
        job_id=None,
    )
    return out


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with moto.mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield


def stubbed_bedrock(monkeypatch=None):
    """A Stubber'd Bedrock client, and a client factory sending S3 to moto."""
    from botocore.stub import Stubber

    from tunewise.train import aws as aws_mod

    real = aws_mod.client
    br = boto3.client("bedrock", region_name=REGION)

    def factory(service, region=None):
        return br if service == "bedrock" else real(service, region)

    if monkeypatch is not None:
        monkeypatch.setattr(aws_mod, "client", factory)
    return Stubber(br), factory


def import_job(status: str, **extra):
    return {
        "jobArn": IMPORT_ARN,
        "jobName": CREATE["jobName"],
        "importedModelName": "support-v1",
        "roleArn": ROLE,
        "modelDataSource": SOURCE,
        "status": status,
        "creationTime": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        **extra,
    }


def test_export_merges_uploads_imports_waits_and_registers(aws, adapter):
    from safetensors import safe_open

    from tunewise.registry import Registry
    from tunewise.train.bedrock_backend import BedrockBackend
    from tunewise.train.export_bedrock import ExportRequest, export_bedrock

    stub, factory = stubbed_bedrock()
    stub.add_response("create_model_import_job", {"jobArn": IMPORT_ARN}, CREATE)
    get = {"jobIdentifier": IMPORT_ARN}
    stub.add_response("get_model_import_job", import_job("InProgress"), get)
    stub.add_response(
        "get_model_import_job", import_job("Completed", importedModelArn=MODEL_ARN), get
    )
    delays: list[float] = []
    backend = BedrockBackend(client=factory, sleep=delays.append)
    req = ExportRequest(
        adapter, f"s3://{BUCKET}/models/support-v1", ROLE, wait=True, poll_seconds=1
    )
    with stub:
        job = export_bedrock(req, backend)
        stub.assert_no_pending_responses()

    assert job.status == "succeeded" and job.method == "import" and job.backend == "bedrock"
    assert job.result["fine_tuned_model"] == MODEL_ARN and delays == [1.0]
    s3 = boto3.client("s3", region_name=REGION)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    for name in ("config.json", "model.safetensors", "tokenizer.json", "manifest.json"):
        assert f"models/support-v1/{name}" in keys, name
    config = json.loads(
        s3.get_object(Bucket=BUCKET, Key="models/support-v1/config.json")["Body"].read()
    )
    assert config["architectures"] == ["LlamaForCausalLM"]
    weights = adapter.parent / "downloaded.safetensors"
    s3.download_file(BUCKET, "models/support-v1/model.safetensors", str(weights))
    with safe_open(str(weights), "pt") as f:
        names = list(f.keys())
    assert names and not [k for k in names if "lora" in k]  # merged: plain HF weights

    messages = [e["message"] for e in backend.store.events(job.id)]
    assert f"Created Bedrock model import job: {IMPORT_ARN}" in messages
    assert messages[-1] == "The job has successfully completed"
    with Registry() as reg:
        chain = reg.lineage(MODEL_ARN)
    manifest = json.loads((adapter / "manifest.json").read_text())
    assert chain["model"]["base"]["hash"] == manifest["base_model"]["hash"]
    assert chain["dataset"]["manifest_sha256"] == manifest["dataset"]["manifest_sha256"]
    assert chain["job"]["provider_job_id"] == IMPORT_ARN


def test_cli_export_then_jobs_show_and_cancel(aws, adapter, monkeypatch):
    stub, _ = stubbed_bedrock(monkeypatch)
    stub.add_response("create_model_import_job", {"jobArn": IMPORT_ARN}, CREATE)
    stub.add_response(
        "get_model_import_job",
        import_job("Failed", failureMessage="Unsupported model architecture"),
        {"jobIdentifier": IMPORT_ARN},
    )
    runner = CliRunner()
    with stub:
        res = runner.invoke(
            app,
            ["export", "bedrock", str(adapter), "--s3", f"s3://{BUCKET}/models/support-v1/",
             "--role", ROLE, "--name", "support-v1", "--no-progress"],
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        assert f"queued: {IMPORT_ARN}" in res.output
        job_id = re.search(r"import job (ftjob-\w+)", res.output).group(1)
        cancel = runner.invoke(app, ["jobs", "cancel", job_id])
        assert cancel.exit_code != 0 and "cannot be stopped" in cancel.output
        shown = json.loads(runner.invoke(app, ["jobs", "show", job_id]).output)
        stub.assert_no_pending_responses()
    assert shown["status"] == "failed"
    assert shown["error"]["message"] == "Unsupported model architecture"


def test_cli_export_needs_a_role_and_an_s3_uri(aws, adapter):
    runner = CliRunner()
    res = runner.invoke(app, ["export", "bedrock", str(adapter), "--s3", f"s3://{BUCKET}/m/"])
    assert res.exit_code == 2 and "--role is required" in res.output
    res = runner.invoke(
        app, ["export", "bedrock", str(adapter), "--s3", "bucket/m", "--role", ROLE]
    )
    assert res.exit_code == 2 and "is not an S3 URI" in res.output
