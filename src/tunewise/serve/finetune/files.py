"""Uploaded files: stored by id under the files folder, described in the `files` table.

Every method is one transaction. A file's bytes are written (and checked) before its row
exists, and its row is deleted before its bytes, so a reader never sees a row without a file.
Jobs hold hard links to their files, so deleting a file never takes data from a queued job.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tunewise.serve.errors import InvalidRequest, NotFound
from tunewise.serve.finetune.objects import page
from tunewise.serve.finetune.tables import FileRow
from tunewise.serve.finetune.uploads import Upload, check_jsonl, invalid_format, store_upload
from tunewise.store import transaction

# OpenAI's upload purposes; only fine-tune files are checked as training data.
PURPOSES = ("fine-tune", "assistants", "batch", "vision", "user_data", "evals")
# Made by the server, never uploaded: a finished job's step metrics.
RESULTS = "fine-tune-results"
MAX_LIST = 10_000  # OpenAI's largest page of files


def file_object(row: FileRow) -> dict[str, Any]:
    """OpenAI's File object."""
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": row.created_at,
        "filename": row.filename,
        "purpose": row.purpose,
        "status": row.status,
        "status_details": None,
        "expires_at": None,
    }


def no_such_file(file_id: str, param: str = "file_id") -> NotFound:
    return NotFound(f"No such File object: {file_id}", param=param, code="file_not_found")


class FileStore:
    """Files of the fine-tuning API over one engine and one folder."""

    def __init__(self, engine: Any, folder: Path) -> None:
        self.engine = engine
        self.folder = folder

    def add(self, upload: Upload, organization: str) -> dict[str, Any]:
        """Check a received upload and keep it; InvalidRequest (nothing kept) when it is bad.

        The name the client sent is a label: the file is stored as FOLDER/<id>, and only the
        label's last path component is kept (shown back in `filename`)."""
        try:
            purpose = upload.fields.get("purpose", "")
            if purpose not in PURPOSES:
                raise InvalidRequest(
                    f"'{purpose}' is not a valid purpose; use one of {', '.join(PURPOSES)} "
                    "(training data: purpose=fine-tune)"
                    if purpose
                    else "Missing required parameter: 'purpose' (training data: purpose=fine-tune)",
                    param="purpose",
                )
            examples = None
            if purpose == "fine-tune":
                if not upload.filename.lower().endswith(".jsonl"):
                    raise invalid_format("Must be .jsonl")
                examples = check_jsonl(upload.path)
            file_id = "file-" + uuid.uuid4().hex[:24]
            dest = self.folder / file_id
            store_upload(upload, dest)
        except BaseException:
            upload.discard()
            raise
        row = FileRow(
            id=file_id,
            created_at=int(time.time()),
            bytes=upload.bytes,
            filename=Path(upload.filename.replace("\\", "/")).name[:255] or "upload.jsonl",
            purpose=purpose,
            status="processed",
            sha256=upload.sha256,
            examples=examples,
            path=str(dest),
            organization=organization,
        )
        with transaction(self.engine) as s:
            s.add(row)
        return file_object(row)

    def add_generated(self, data: bytes, filename: str, purpose: str, organization: str) -> str:
        """Keep a file the server made (a job's results); its id."""
        import hashlib

        from tunewise.artifacts import atomic_write_bytes

        file_id = "file-" + uuid.uuid4().hex[:24]
        atomic_write_bytes(self.folder / file_id, data)
        row = FileRow(
            id=file_id,
            created_at=int(time.time()),
            bytes=len(data),
            filename=filename,
            purpose=purpose,
            status="processed",
            sha256=hashlib.sha256(data).hexdigest(),
            examples=None,
            path=str(self.folder / file_id),
            organization=organization,
        )
        with transaction(self.engine) as s:
            s.add(row)
        return file_id

    def get(self, file_id: str, param: str = "file_id") -> FileRow:
        with transaction(self.engine) as s:
            row = s.scalar(select(FileRow).where(FileRow.id == file_id))
        if row is None:
            raise no_such_file(file_id, param)
        return row

    def list(
        self, *, purpose: str | None, limit: int, after: str | None, order: str
    ) -> dict[str, Any]:
        """One page of files, newest first unless `order` is asc; `after` is a file id."""
        query = select(FileRow)
        if purpose:
            query = query.where(FileRow.purpose == purpose)
        if after:
            anchor = select(FileRow.seq).where(FileRow.id == after).scalar_subquery()
            query = query.where(FileRow.seq > anchor if order == "asc" else FileRow.seq < anchor)
        query = query.order_by(FileRow.seq.asc() if order == "asc" else FileRow.seq.desc())
        with transaction(self.engine) as s:
            rows = list(s.scalars(query.limit(limit + 1)))
        return page([file_object(r) for r in rows[:limit]], len(rows) > limit)

    def delete(self, file_id: str) -> dict[str, Any]:
        with transaction(self.engine) as s:
            row = s.scalar(select(FileRow).where(FileRow.id == file_id).with_for_update())
            if row is None:
                raise no_such_file(file_id)
            path = Path(row.path)
            s.delete(row)
        path.unlink(missing_ok=True)
        return {"id": file_id, "object": "file", "deleted": True}
