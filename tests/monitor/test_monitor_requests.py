"""The request-log row: normalization, the JSONL reader's errors, the window, durations, config."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tunewise.config import config_problems
from tunewise.errors import ConfigError, DataError
from tunewise.monitor.requests import JsonlRequests, parse_duration, request_from_dict

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_row_is_normalized() -> None:
    req = request_from_dict({
        "time": "2026-05-01T12:00:00Z", "feature": "f", "arm": "canary", "status": "error",
        "tokens": {"in": 10, "out": 3}, "scores": {"json_valid": 1},
        "prompt": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi"},
                   {"role": "user", "content": [{"type": "text", "text": "last"}]}],
        "answer": "{}", "review": {"answer": "{}"},
    })  # fmt: skip
    assert req.time == T0 + timedelta(hours=12) and req.day == "2026-05-01"
    assert (req.arm, req.ok, req.tokens_in, req.tokens_out) == ("canary", False, 10, 3)
    assert req.prompt == "last" and req.scores == {"json_valid": 1.0} and req.review
    assert request_from_dict({"time": 0, "feature": "f", "status": 200}).ok
    assert not request_from_dict({"time": 0, "feature": "f", "status": 503}).ok


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"feature": "f"}', "line 2: field 'time': required"),
        ('{"time": "yesterday", "feature": "f"}', "line 2: field 'time'"),
        ('{"time": 0, "feature": "f", "status": "maybe"}', "line 2: field 'status'"),
        ('{"time": 0, "feature": "f", "scores": [1]}', "line 2: field 'scores'"),
        ('{"time": 0, "feature": "f", "review": "ok"}', "line 2: field 'review'"),
        ("[1, 2]", "line 2: not a JSON object"),
    ],
)
def test_reader_names_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"time": 0, "feature": "f"}\n' + line + "\n")
    with pytest.raises(DataError, match=message) as err:
        list(JsonlRequests(path).iter_requests("f", datetime(1970, 1, 1, tzinfo=UTC)))
    assert str(path) in str(err.value)


def test_reader_filters_feature_and_window(tmp_path: Path) -> None:
    rows = [{"time": (T0 + timedelta(days=d)).isoformat(), "feature": f, "request_id": f"{f}{d}"}
            for d in range(10) for f in ("a", "b")]  # fmt: skip
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    got = JsonlRequests(path).iter_requests("a", T0 + timedelta(days=3), T0 + timedelta(days=6))
    assert [r.request_id for r in got] == ["a3", "a4", "a5"]
    with pytest.raises(DataError, match="no such request-log file"):
        JsonlRequests(tmp_path / "missing.jsonl")


def test_durations() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("36h") == timedelta(hours=36)
    assert parse_duration("90m") == timedelta(minutes=90)
    for bad in ("7", "0d", "d7", "7y"):
        with pytest.raises(ConfigError, match="not a duration"):
            parse_duration(bad)


def test_monitor_config_problems_are_listed_with_paths() -> None:
    problems = config_problems({"monitor": {"window": "soon", "drift_auc": 0.4,
                                            "triggers": {"webhook": "ftp://x", "bogus": 1}}})  # fmt: skip
    text = "\n".join(problems)
    for path in ("monitor.window", "monitor.drift_auc", "monitor.triggers.webhook",
                 "monitor.triggers.bogus"):  # fmt: skip
        assert path in text, text


def test_cli_errors_are_one_line_with_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tunewise.cli import app

    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"messages": [{"role": "user", "content": "q"},
                                              {"role": "assistant", "content": "a"}]}) + "\n")  # fmt: skip
    log = tmp_path / "log.jsonl"
    log.write_text(
        '{"time": "2026-05-01T00:00:00Z", "feature": "f"}\n{"time": 1, "feature": "f", "status": "meh"}\n'
    )
    base = ["monitor", "f", "--train", str(train), "--since", "2026-04-01T00:00:00Z"]
    runner = CliRunner()
    monkeypatch.setenv("TUNEWISE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("TUNEWISE_DB_URL", raising=False)
    monkeypatch.delenv("TUNEWISE_REGISTRY_URL", raising=False)
    store = runner.invoke(app, base)  # no --requests: the gateway's request log, empty here
    assert store.exit_code == 3 and "no logged requests for feature 'f'" in store.output
    bad = runner.invoke(app, [*base, "--requests", str(log)])
    assert bad.exit_code == 3 and "log.jsonl line 2: field 'status'" in bad.output
    log.write_text('{"time": "2026-05-01T00:00:00Z", "feature": "f"}\n')
    empty = runner.invoke(app, [*base, "--requests", str(log), "--until", "2026-04-02T00:00:00Z"])
    assert empty.exit_code == 3 and "no logged requests for feature 'f'" in empty.output
    window = runner.invoke(app, [*base[:-2], "--since", "last week", "--requests", str(log)])
    assert window.exit_code == 2 and "since 'last week'" in window.output
