"""A real HTTP server answering the fine-tuning API with recorded provider error bodies.

The 429 `daily_rate_limit_exceeded`, the upload refusal ("Invalid file format for Fine-Tuning
API. Must be .jsonl") and the failed job's `invalid_training_file` error are bodies the hosted
service has been seen to send (docs: REFERENCE.md, "Errors seen from the real service"). The
refusal of new jobs is not observed yet (announced for 2027-01-06): its body follows the same
error shape with a 403, which is what the backend must cope with whatever the wording.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

RECORDED: dict[str, tuple[int, dict[str, Any]]] = {
    "daily_limit": (
        429,
        {
            "error": {
                "message": "Daily rate limit exceeded for fine-tuning job creation. "
                "Please try again tomorrow.",
                "type": "invalid_request_error",
                "param": None,
                "code": "daily_rate_limit_exceeded",
            }
        },
    ),
    "bad_upload": (
        400,
        {
            "error": {
                "message": "Invalid file format for Fine-Tuning API. Must be .jsonl",
                "type": "invalid_request_error",
                "param": "file",
                "code": None,
            }
        },
    ),
    "refused": (
        403,
        {
            "error": {
                "message": "Fine-tuning is no longer available for new jobs.",
                "type": "invalid_request_error",
                "param": None,
                "code": "fine_tuning_unavailable",
            }
        },
    ),
}
INVALID_FILE_ERROR = {
    "code": "invalid_training_file",
    "message": "The job failed due to an invalid training file. Invalid file format. "
    "Example 100, message 2 Discriminator 'role' is missing in value",
    "param": "training_file",
}


def recorded_app(scenario: str) -> FastAPI:
    """Uploads succeed unless `scenario` is bad_upload; job creation answers the scenario's body;
    `invalid_file`: the job is created and then fails as the service reports it."""
    app = FastAPI()
    calls: dict[str, int] = {"create": 0}
    app.state.calls = calls

    @app.post("/v1/files")
    async def upload(request: Request) -> JSONResponse:
        await request.body()
        if scenario == "bad_upload":
            status, body = RECORDED["bad_upload"]
            return JSONResponse(body, status_code=status)
        return JSONResponse(
            {
                "id": "file-rec1",
                "object": "file",
                "bytes": 10,
                "created_at": int(time.time()),
                "filename": "train.jsonl",
                "purpose": "fine-tune",
                "status": "processed",
            }
        )

    @app.post("/v1/fine_tuning/jobs")
    async def create(request: Request) -> JSONResponse:
        calls["create"] += 1
        if scenario in RECORDED:
            status, body = RECORDED[scenario]
            return JSONResponse(body, status_code=status, headers={"x-should-retry": "false"})
        return JSONResponse(_job("validating_files", None))

    @app.get("/v1/fine_tuning/jobs/{job_id}")
    async def retrieve(job_id: str) -> JSONResponse:
        return JSONResponse(_job("failed", INVALID_FILE_ERROR))

    @app.get("/v1/fine_tuning/jobs/{job_id}/events")
    async def events(job_id: str) -> JSONResponse:
        return JSONResponse(
            {
                "object": "list",
                "has_more": False,
                "data": [
                    _event("ftevent-2", "error", INVALID_FILE_ERROR["message"]),
                    _event("ftevent-1", "info", "Validating training file: file-rec1"),
                ],
            }
        )

    @app.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
    async def checkpoints(job_id: str) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [], "has_more": False})

    return app


def _event(eid: str, level: str, message: str) -> dict[str, Any]:
    return {
        "id": eid,
        "object": "fine_tuning.job.event",
        "created_at": int(time.time()),
        "level": level,
        "message": message,
        "type": "message",
        "data": {},
    }


def _job(status: str, error: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": "ftjob-rec1",
        "object": "fine_tuning.job",
        "created_at": int(time.time()),
        "model": "gpt-4o-mini-2024-07-18",
        "organization_id": "org-rec",
        "status": status,
        "error": error,
        "fine_tuned_model": None,
        "finished_at": None,
        "hyperparameters": {"n_epochs": "auto"},
        "result_files": [],
        "seed": 0,
        "trained_tokens": None,
        "training_file": "file-rec1",
        "validation_file": None,
    }
