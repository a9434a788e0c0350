"""CLI verbs of `tunewise export`: a local model handed to a hosted provider (Amazon Bedrock)."""

from __future__ import annotations

from pathlib import Path

import typer

from tunewise.cli._console import console, err_console

export_app = typer.Typer(
    help="Hand a locally trained model to a hosted provider.", no_args_is_help=True
)


@export_app.command("bedrock")
def export_bedrock_cmd(
    adapter: Path = typer.Argument(
        ..., help="Adapter (or full model) folder written by tunewise train."
    ),
    s3: str = typer.Option(
        ..., "--s3", help="Where the merged Hugging Face weights go: s3://bucket/path/."
    ),
    role: str = typer.Option(
        None, "--role", help="IAM role ARN Bedrock assumes to read the weights (required)."
    ),
    name: str = typer.Option(
        None, "--name", help="Imported model name (default: the adapter folder's name)."
    ),
    region: str = typer.Option(None, "--region", help="AWS region (default: AWS_REGION)."),
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Poll the import job until it ends."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Print events on stderr."),
) -> None:
    """Merge ADAPTER into its base, upload the weights to S3, start a Bedrock Custom Model Import."""
    from tunewise.train.bedrock_backend import stderr_echo
    from tunewise.train.export_bedrock import ExportRequest, export_bedrock

    job = export_bedrock(
        ExportRequest(adapter, s3, role, name=name, region=region, wait=wait),
        echo=stderr_echo if progress else None,
    )
    result = job.result or {}
    if job.status in ("failed", "cancelled"):
        err_console.print(
            f"import job {job.id} {job.status}: {(job.error or {}).get('message')}",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(1)
    console.print(
        f"import job {job.id} {job.status}: {result.get('fine_tuned_model') or result.get('job_arn')}",
        soft_wrap=True,  # ARNs get copied: never break them
    )
    if job.status != "succeeded":
        console.print(f"  follow it: tunewise jobs show {job.id}")


def register(app: typer.Typer) -> None:
    """Add `tunewise export` to the root app."""
    app.add_typer(export_app, name="export")
