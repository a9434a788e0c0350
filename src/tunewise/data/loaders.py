"""Reading input files into Rows without ever crashing.

Every physical line (CSV: every data record) becomes exactly one Row or one Reject, so
`read == len(rows) + len(rejects)` always holds. Accepted inputs:

- OpenAI chat JSONL (`messages`, optional `tools`, `parallel_tool_calls`);
- DPO JSONL (`input` + `preferred_output`/`non_preferred_output`, or the
  `preferred_completion`/`non_preferred_completion` spelling);
- CSV, or JSONL with input/output columns (`data.input`), turned into chat rows with the
  configured system prompt;
- Parquet, streamed through Hugging Face `datasets`.

Large JSONL files (above `data.input.use_hf_datasets_above_mb`) are streamed line by line
instead of read whole; CSV is always streamed. Neither goes through `datasets`' json/text
builders: those abort the whole file on one bad line or re-split lines on `\\r`, which would
break per-line accounting.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.data.config import InputConfig
from tunewise.data.schema import Reject, Row, Source
from tunewise.errors import DataError

PROVENANCES = ("human", "synthetic", "production")
RAW_KEEP = 2000  # characters of a rejected line kept in rejects.jsonl
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass
class LoadResult:
    """Rows and rejects from one or more files, with the number of lines read per file."""

    rows: list[Row] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    read: dict[str, int] = field(default_factory=dict)

    @property
    def total_read(self) -> int:
        return sum(self.read.values())

    def extend(self, other: LoadResult) -> None:
        self.rows.extend(other.rows)
        self.rejects.extend(other.rejects)
        for name, n in other.read.items():
            self.read[name] = self.read.get(name, 0) + n


class _Bad(Exception):
    """A row-level problem; the message becomes the reject reason."""


def load_files(
    paths: list[Path], cfg: InputConfig, *, default_provenance: str = "human"
) -> LoadResult:
    """Load every file; ids are made unique across files (a repeated row gets a `-2` suffix)."""
    result = LoadResult()
    for path in paths:
        result.extend(load_file(path, cfg, default_provenance=default_provenance))
    seen: dict[str, int] = {}
    for row in result.rows:
        n = seen.get(row.id, 0) + 1
        seen[row.id] = n
        if n > 1:
            row.id = f"{row.id}-{n}"
    return result


def load_file(path: Path, cfg: InputConfig, *, default_provenance: str = "human") -> LoadResult:
    """Load one JSONL, CSV or Parquet file. Raises DataError only if the file cannot be opened."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; pass an existing JSONL, CSV or Parquet file")
    suffix = path.suffix.lower()
    if suffix in {".csv", ".tsv"}:
        records = _csv_records(path, cfg, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix == ".parquet":
        records = _parquet_records(path)
    else:
        records = _jsonl_records(path, cfg)
    result = LoadResult(read={path.name: 0})
    for line, raw, obj in records:
        result.read[path.name] += 1
        source = Source(path.name, line)
        try:
            if isinstance(obj, _Bad):
                raise obj
            result.rows.append(row_from_object(obj, source, cfg, default_provenance))
        except _Bad as exc:
            result.rejects.append(Reject(source, [f"{source}: {exc}"], raw=raw[:RAW_KEEP]))
        except Exception as exc:  # never crash on data: anything unexpected is a reject too
            result.rejects.append(
                Reject(
                    source,
                    [f"{source}: unreadable row ({type(exc).__name__}: {exc})"],
                    raw=raw[:RAW_KEEP],
                )
            )
    return result


# ---------------------------------------------------------------- readers (line, raw, object|_Bad)

Record = tuple[int, str, Any]


def _iter_byte_lines(path: Path, cfg: InputConfig) -> Iterator[bytes]:
    limit = cfg.max_line_kb * 1024
    if path.stat().st_size <= cfg.use_hf_datasets_above_mb * 1024 * 1024:
        data = path.read_bytes()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        yield from lines
        return
    with open(path, "rb") as fh:  # streaming: constant memory, a huge line is skipped unread
        while True:
            chunk = fh.readline(limit + 1)
            if not chunk:
                return
            if len(chunk) > limit and not chunk.endswith(b"\n"):
                while (rest := fh.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass
                yield chunk + b"..."  # marker: longer than the limit
                continue
            yield chunk[:-1] if chunk.endswith(b"\n") else chunk


def _jsonl_records(path: Path, cfg: InputConfig) -> Iterator[Record]:
    limit = cfg.max_line_kb * 1024
    for i, bline in enumerate(_iter_byte_lines(path, cfg), start=1):
        if bline.endswith(b"\r"):
            bline = bline[:-1]
        if i == 1 and bline.startswith(b"\xef\xbb\xbf"):
            bline = bline[3:]
        if len(bline) > limit:
            raw = bline[:RAW_KEEP].decode("utf-8", "replace")
            yield (
                i,
                raw,
                _Bad(
                    f"line is longer than {cfg.max_line_kb} KiB (data.input.max_line_kb); split or shorten it"
                ),
            )
            continue
        try:
            text = bline.decode("utf-8")
        except UnicodeDecodeError as exc:
            raw = bline[:RAW_KEEP].decode("utf-8", "replace")
            yield i, raw, _Bad(f"invalid UTF-8 at byte {exc.start}; re-encode the file as UTF-8")
            continue
        yield i, text, _parse_json(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for all lines: json.loads(..., parse_constant=...) would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _parse_json(text: str) -> Any:
    if not text.strip():
        return _Bad("empty line; remove it")
    try:
        obj = _DECODER.decode(text)
    except RecursionError:
        return _Bad("JSON nested too deeply")
    except ValueError as exc:
        return _Bad(f"not valid JSON ({exc}); every line must be one JSON object")
    if not isinstance(obj, dict):
        return _Bad(f"expected a JSON object, got {_type_name(obj)}")
    if _ESCAPED_SURROGATE.search(text) and _SURROGATE.search(json.dumps(obj, ensure_ascii=False)):
        return _Bad(
            "string contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff); fix the text"
        )
    return obj


def _csv_records(path: Path, cfg: InputConfig, delimiter: str) -> Iterator[Record]:
    csv.field_size_limit(cfg.max_line_kb * 1024)
    # Streamed from the file; bad bytes become lone surrogates, caught per record below.
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        yield from _csv_rows(path, csv.reader(fh, delimiter=delimiter), delimiter)


def _csv_rows(path: Path, reader: Any, delimiter: str) -> Iterator[Record]:
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return
    if any(_SURROGATE.search(h) for h in header):
        raise DataError(f"{path} line 1 (header): invalid UTF-8; re-encode the file as UTF-8")
    header = [h.strip() for h in header]
    n = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            n += 1
            yield n, "", _Bad(f"malformed CSV record ({exc})")
            continue
        n += 1
        raw = delimiter.join(fields)
        if _SURROGATE.search(raw):
            yield (
                n,
                raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")[:RAW_KEEP],
                _Bad("invalid UTF-8; re-encode the file as UTF-8"),
            )
        elif not any(f.strip() for f in fields):
            yield n, raw, _Bad("empty record; remove it")
        elif len(fields) != len(header):
            yield (
                n,
                raw,
                _Bad(f"expected {len(header)} columns ({', '.join(header)}), got {len(fields)}"),
            )
        else:
            yield n, raw, dict(zip(header, fields, strict=True))


def _parquet_records(path: Path) -> Iterator[Record]:
    from tunewise.errors import require

    datasets = require("datasets", "train", "Reading Parquet inputs")
    try:
        stream = datasets.load_dataset(
            "parquet", data_files=str(path), split="train", streaming=True
        )
        for i, rec in enumerate(stream, start=1):
            obj = _drop_nulls(dict(rec))
            yield i, json.dumps(obj, ensure_ascii=False, default=str)[:RAW_KEEP], obj
    except DataError:
        raise
    except Exception as exc:  # a corrupt file: nothing per-row to salvage
        raise DataError(
            f"{path}: unreadable Parquet file ({type(exc).__name__}: {exc}); re-export it"
        ) from exc


def _drop_nulls(value: Any) -> Any:
    """Arrow gives every struct all fields of its column: drop the nulls a JSON line would not have."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


# ---------------------------------------------------------------- objects -> rows


def _type_name(v: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(v), "a number" if isinstance(v, int | float) else type(v).__name__)


def _messages(v: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(v, list):
        raise _Bad(f"{where}: expected an array of message objects, got {_type_name(v)}")
    for j, m in enumerate(v):
        if not isinstance(m, dict):
            raise _Bad(f"{where}[{j}]: expected a message object, got {_type_name(m)}")
    return v


def row_from_object(
    obj: dict[str, Any], source: Source, cfg: InputConfig, default_provenance: str = "human"
) -> Row:
    """Turn one parsed JSON object / CSV record into a Row (raises on structural problems)."""
    provenance = obj.get(cfg.provenance_column) or default_provenance
    if provenance not in PROVENANCES:
        raise _Bad(
            f"{cfg.provenance_column}: {provenance!r} is not one of {', '.join(PROVENANCES)}"
        )
    tags = obj.get("tags", [])
    if isinstance(tags, str):
        tags = [t for t in tags.split(",") if t]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _Bad(f"tags: expected an array of strings, got {_type_name(tags)}")
    tags = list(tags)
    for col in cfg.tag_columns:
        value = obj.get(col)
        if value not in (None, ""):
            tags.append(f"{col}:{value}")
    tools = obj.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _Bad(f"tools: expected an array, got {_type_name(tools)}")
    ptc = obj.get("parallel_tool_calls")
    if ptc is not None and not isinstance(ptc, bool):
        raise _Bad(f"parallel_tool_calls: expected true or false, got {_type_name(ptc)}")

    if "messages" in obj:
        messages = _with_system(_messages(obj["messages"], "messages"), cfg)
        return Row(
            messages,
            source,
            tools=tools,
            parallel_tool_calls=ptc,
            provenance=provenance,
            tags=sorted(set(tags)),
        )
    pref = obj.get("preferred_output", obj.get("preferred_completion"))
    if isinstance(obj.get("input"), dict) or pref is not None:
        return _dpo_row(obj, pref, source, cfg, provenance, sorted(set(tags)))
    if cfg.input_column in obj and cfg.output_column in obj:
        user, answer = obj[cfg.input_column], obj[cfg.output_column]
        for col, v in ((cfg.input_column, user), (cfg.output_column, answer)):
            if not isinstance(v, str):
                raise _Bad(f"{col}: expected a string, got {_type_name(v)}")
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        return Row(
            _with_system(messages, cfg), source, provenance=provenance, tags=sorted(set(tags))
        )
    keys = ", ".join(sorted(map(str, obj))[:8]) or "none"
    raise _Bad(
        f"unknown row shape (keys: {keys}); expected 'messages', DPO 'input' + 'preferred_output', "
        f"or the columns '{cfg.input_column}' and '{cfg.output_column}' (data.input.input_column/output_column)"
    )


def _dpo_row(
    obj: dict[str, Any],
    pref: Any,
    source: Source,
    cfg: InputConfig,
    provenance: str,
    tags: list[str],
) -> Row:
    inp = obj.get("input")
    if not isinstance(inp, dict):
        raise _Bad(f"input: expected an object with 'messages', got {_type_name(inp)}")
    non = obj.get("non_preferred_output", obj.get("non_preferred_completion"))
    if pref is None or non is None:
        missing = "preferred_output" if pref is None else "non_preferred_output"
        raise _Bad(
            f"{missing}: required for a DPO row (input + preferred_output + non_preferred_output)"
        )
    tools = inp.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise _Bad(f"input.tools: expected an array, got {_type_name(tools)}")
    return Row(
        _with_system(_messages(inp.get("messages"), "input.messages"), cfg),
        source,
        kind="dpo",
        tools=tools,
        preferred_output=_messages(pref, "preferred_output"),
        non_preferred_output=_messages(non, "non_preferred_output"),
        provenance=provenance,
        tags=tags,
    )


def _with_system(messages: list[dict[str, Any]], cfg: InputConfig) -> list[dict[str, Any]]:
    if cfg.system_prompt and not (messages and messages[0].get("role") == "system"):
        return [{"role": "system", "content": cfg.system_prompt}, *messages]
    return messages


def load_golden(path: str | Path) -> list[Row]:
    """A golden file the user brings, as rows (prompt + reference answer) for the leakage check.

    Read by the one golden reader (`tunewise.data.golden`), so `data prepare` and `eval` accept and
    refuse the same files and see the same cases; the ids are the file's own.
    """
    from tunewise.data.golden import read_cases

    path = Path(path)
    return [
        Row(
            [*c.messages, {"role": "assistant", "content": c.expected_text()}],
            Source(path.name, c.line),
            provenance=c.provenance,
            tags=list(c.tags),
            id=c.id,
        )
        for c in read_cases(path)
    ]
