"""Receiving a file upload: multipart streamed to disk under a size cap, then checked as JSONL.

The request body is parsed as it arrives (python-multipart's streaming parser) and the `file`
part is written straight to a temporary file in the files folder, hashed on the way; the upload
is refused the moment it passes the cap, so a large file is never held in memory nor written
past the limit. The name the client sent is kept as a label only: files are stored under their
own ids, never under a client-chosen path.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tunewise.serve.errors import ApiError, InvalidRequest

FIELD_LIMIT = 64 * 1024  # bytes of a non-file form field (purpose, ...)
FORMAT = "Invalid file format for Fine-Tuning API."


class FileTooLarge(ApiError):
    status = 413
    code = "file_too_large"


def invalid_format(message: str) -> InvalidRequest:
    return InvalidRequest(f"{FORMAT} {message}", param="file", code="invalid_file_format")


@dataclass
class Upload:
    """A received upload: the temporary file holding it, and what the form said."""

    path: Path
    filename: str
    bytes: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class _Receiver:
    """python-multipart callbacks: the `file` part goes to disk, other fields to memory."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes
        self.upload: Upload | None = None
        self.fields: dict[str, str] = {}
        self._fh: IO[bytes] | None = None
        self._hash = hashlib.sha256()
        self._header: tuple[bytearray, bytearray] = (bytearray(), bytearray())
        self._disposition = b""
        self._name: str | None = None
        self._value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._header[0].extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header[1].extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self._disposition, self._name, self._value = b"", None, bytearray()

    def _header_end(self) -> None:
        name, value = self._header
        if bytes(name).lower() == b"content-disposition":
            self._disposition = bytes(value)
        name.clear()
        value.clear()

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file" and b"filename" in options:
            if self.upload is not None:
                raise InvalidRequest("send exactly one 'file' part", param="file")
            label = options[b"filename"].decode("utf-8", "replace")
            path = self.folder / f".upload-{uuid.uuid4().hex}.part"
            self.upload = Upload(path, label)
            self._fh = open(path, "wb")  # noqa: SIM115 - closed in _end or close()

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._fh is None:
            if len(self._value) + len(chunk) > FIELD_LIMIT:
                raise InvalidRequest(f"form field '{self._name}' is too long", param=self._name)
            self._value.extend(chunk)
            return
        assert self.upload is not None
        self.upload.bytes += len(chunk)
        if self.upload.bytes > self.max_bytes:
            raise too_large(self.max_bytes)
        # Page-cache writes of the parser's small chunks: cheaper inline than a thread hop each.
        self._fh.write(chunk)
        self._hash.update(chunk)

    def _end(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            assert self.upload is not None
            self.upload.sha256 = self._hash.hexdigest()
        elif self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def too_large(max_bytes: int) -> FileTooLarge:
    return FileTooLarge(
        f"File is too large: this server accepts uploads up to {max_bytes / 1e6:g} MB "
        "(serve.fine_tuning.max_upload_mb); split the data or raise the limit",
        param="file",
    )


async def receive_upload(request: Any, folder: Path, max_bytes: int) -> Upload:
    """Stream a multipart upload's `file` part into `folder`; InvalidRequest/FileTooLarge if bad."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise InvalidRequest(
            "Send the upload as multipart/form-data with a 'file' part and a 'purpose' field",
            param="file",
        )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes + FIELD_LIMIT:
        raise too_large(max_bytes)  # refused before a byte is stored
    folder.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(folder, max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        _drop(receiver)
        raise InvalidRequest(f"malformed multipart body ({exc})", param="file") from None
    except BaseException:
        _drop(receiver)
        raise
    if receiver.upload is None:
        raise InvalidRequest("no 'file' part in the upload", param="file")
    receiver.upload.fields = receiver.fields
    return receiver.upload


def _drop(receiver: _Receiver) -> None:
    receiver.close()
    if receiver.upload is not None:
        receiver.upload.discard()


def check_jsonl(path: Path, *, max_line_kb: int = 1024) -> int:
    """The number of examples in a JSONL file; InvalidRequest naming the line if it is not JSONL."""
    limit = max_line_kb * 1024
    examples = 0
    with open(path, "rb") as fh:
        for n, line in enumerate(iter(lambda: fh.readline(limit + 1), b""), start=1):
            if len(line) > limit and not line.endswith(b"\n"):
                raise invalid_format(f"Line {n} is longer than {max_line_kb} KiB.")
            line = line.rstrip(b"\r\n")
            if n == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise invalid_format(
                    f"Line {n} is not valid UTF-8 (byte {exc.start}); re-encode the file as UTF-8."
                ) from None
            try:
                obj = json.loads(text)
            except ValueError as exc:
                raise invalid_format(
                    f"Line {n} is not valid JSON ({exc}); every line must be one JSON object."
                ) from None
            if not isinstance(obj, dict):
                raise invalid_format(f"Line {n} is not a JSON object.")
            examples += 1
    if not examples:
        raise invalid_format("The file is empty.")
    return examples


def store_upload(upload: Upload, dest: Path) -> None:
    """Move a checked upload to its final place (same folder: an atomic rename)."""
    os.replace(upload.path, dest)
