"""API keys (hashed, admin routes, revocation, loopback-only without keys) and the request log
(one row per request, sampled and scrubbed text, hashed users, retention, never blocking)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import openai
import pytest
from serve_helpers import MSG, log_rows, registry_world, sdk, start_gateway
from typer.testing import CliRunner

from tunewise.cli import app as cli
from tunewise.errors import ConfigError
from tunewise.serve.server import check_bind


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tunewise.db'}"


def test_keys_gate_requests_once_one_exists(upstream, url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reg = registry_world(tmp_path / "runs", url, ["ad-good"])  # a feature for the flag routes
    reg.promote("ad-good", feature="support", force=True, reason="test")
    reg.close()
    gw = start_gateway(upstream.url, {"flags_ttl_s": 0.1}, db_url=url)
    try:
        assert sdk(gw).chat.completions.create(model="base-a", messages=MSG)  # no keys: open
        key = run_cli("keys", "create", "billing-service", "--db", url).strip()
        assert key.startswith("tw-") and len(key) > 40
        # Auth turns on with the next refresh of the key ring (serve.flags_ttl_s, 0.1 s here).
        deadline = time.time() + 15
        while httpx.post(gw.url + "/v1/chat/completions", json={}).status_code != 401:
            assert time.time() < deadline, "the new key did not turn auth on"
            time.sleep(0.05)
        with pytest.raises(openai.AuthenticationError) as info:
            sdk(gw, key="tw-wrong").chat.completions.create(model="base-a", messages=MSG)
        assert info.value.code == "invalid_api_key"
        assert httpx.post(gw.url + "/v1/chat/completions", json={}).status_code == 401
        assert sdk(gw, key=key).chat.completions.create(model="base-a", messages=MSG)  # at once
        # Only the hash is stored: the key does not appear in the database file.
        db_file = Path(url.removeprefix("sqlite:///"))
        assert key.encode() not in db_file.read_bytes()
        listed = json.loads(run_cli("keys", "list", "--json", "--db", url))
        assert listed[0]["name"] == "billing-service" and key not in json.dumps(listed)
        # A client key may not change flags; an admin key may.
        put = {"canary_percent": 5}
        r = httpx.put(
            gw.url + "/v1/tunewise/flags/support",
            json=put,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 403 and r.json()["error"]["code"] == "admin_key_required"
        admin = run_cli("keys", "create", "oncall", "--admin", "--db", url).strip()
        r = httpx.put(
            gw.url + "/v1/tunewise/flags/support",
            json=put,
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 200 and r.json()["canary_percent"] == 5
        r = httpx.put(
            gw.url + "/v1/tunewise/flags/support",
            json={"canary_percent": 500},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "canary_percent"
        # Revoked: refused within the refresh interval.
        run_cli("keys", "revoke", listed[0]["id"], "--db", url)
        time.sleep(0.5)
        with pytest.raises(openai.AuthenticationError):
            sdk(gw, key=key).chat.completions.create(model="base-a", messages=MSG)
    finally:
        gw.stop()


def test_no_keys_means_loopback_only(url) -> None:  # type: ignore[no-untyped-def]
    assert "WITHOUT authentication" in (check_bind("127.0.0.1", 0) or "")
    assert check_bind("0.0.0.0", 2) is None
    with pytest.raises(ConfigError, match="tunewise keys create"):
        check_bind("0.0.0.0", 0)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--db", url])
    assert result.exit_code == 2 and "refusing to listen on 0.0.0.0" in result.output


def test_every_request_is_logged_and_sampled_text_is_scrubbed(upstream, url) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(upstream.url, {"log_sample": 1.0, "log_flush_s": 0.1}, db_url=url)
    try:
        secret = "Write to jane.doe@example.com or call +1 415 555 0134"
        client = sdk(gw)
        client.chat.completions.create(
            model="base-a", messages=[{"role": "user", "content": secret}], user="alice"
        )
        list(client.chat.completions.create(model="base-a", messages=MSG, stream=True, user="bob"))
        httpx.post(gw.url + "/v1/chat/completions", content=b"{not json")
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=MSG)
        rows = log_rows(url, 4)
    finally:
        gw.stop()
    assert [r.status for r in rows] == [200, 200, 400, 404]
    first, streamed = rows[0], rows[1]
    assert "jane.doe@example.com" not in (first.prompt or "") + (first.answer or "")
    assert "555 0134" not in (first.prompt or "")
    assert (
        "<EMAIL_ADDRESS_1>" in first.prompt and "<EMAIL_ADDRESS_1>" in first.answer
    )  # one table per row
    assert (
        first.user_hash and "alice" not in first.user_hash and first.user_hash != streamed.user_hash
    )
    assert first.tokens_out > 0 and first.latency_ms > 0 and first.scores["json_valid"] == 0
    assert (
        streamed.stream
        and streamed.ttft_ms is not None
        and streamed.answer.startswith("base-a says")
    )
    assert rows[2].error_code == "invalid_json" and rows[3].error_code == "model_not_found"


def test_unsampled_requests_keep_no_text_and_old_rows_expire(upstream, url) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from tunewise.serve.config import ServeConfig
    from tunewise.serve.exchange import Exchange
    from tunewise.serve.metrics import Metrics
    from tunewise.serve.requestlog import RequestLog
    from tunewise.store import get_engine

    gw = start_gateway(upstream.url, {"log_sample": 0.0, "log_flush_s": 0.1}, db_url=url)
    try:
        sdk(gw).chat.completions.create(model="base-a", messages=MSG, user="carol")
        (row,) = log_rows(url, 1)
    finally:
        gw.stop()
    assert row.prompt is None and row.answer is None and row.scores["chars"] > 0
    # Retention: a write purges rows older than log_retention_days.
    log = RequestLog(lambda: get_engine(url), ServeConfig(log_retention_days=7), Metrics())
    old = Exchange(at=datetime.now(UTC) - timedelta(days=8), status=200, answer="x")
    log._write([(old, False)])
    new = Exchange(status=200, answer="y")
    log._last_purge = 0.0  # the hourly purge is due
    log._write([(new, False)])
    ids = {r.request_id for r in log_rows(url)}
    assert old.request_id not in ids and new.request_id in ids and row.request_id in ids


def test_a_full_log_queue_drops_rows_without_failing_requests() -> None:
    from tunewise.serve.config import ServeConfig
    from tunewise.serve.exchange import Exchange
    from tunewise.serve.metrics import Metrics
    from tunewise.serve.requestlog import RequestLog

    metrics = Metrics()
    log = RequestLog(lambda: None, ServeConfig(log_queue=3), metrics)
    for _ in range(5):
        log.record(Exchange())
    assert len(log._buf) == 3 and metrics.sample("tunewise_request_log_dropped_total") == 2


def test_the_monitor_reads_the_gateways_log(url) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from tunewise.serve.config import ServeConfig
    from tunewise.serve.exchange import Exchange
    from tunewise.serve.logreader import StoreRequests
    from tunewise.serve.metrics import Metrics
    from tunewise.serve.requestlog import RequestLog
    from tunewise.store import get_engine

    log = RequestLog(lambda: get_engine(url), ServeConfig(), Metrics())
    now = datetime.now(UTC)
    rows = [
        Exchange(at=now - timedelta(days=d), feature=f, arm="canary", model="m2", user="u",
                 status=200, answer='{"intent": "card"}', messages=[{"role": "user", "content": "q"}])
        for d, f in ((1, "support"), (2, "support"), (9, "support"), (1, "other"))
    ]  # fmt: skip
    log._write([(ex, True) for ex in rows])
    got = list(StoreRequests(get_engine(url)).iter_requests("support", now - timedelta(days=7)))
    assert len(got) == 2 and all(r.arm == "canary" and r.ok for r in got)
    assert got[0].prompt == "q" and got[0].scores["json_valid"] == 1.0


def test_no_key_and_no_prompt_reaches_the_process_log(upstream, url, caplog, capfd) -> None:  # type: ignore[no-untyped-def]
    """Successes, failures and refusals, logged at DEBUG: neither a key nor the prompt appears."""
    import logging

    from serve_helpers import set_faults

    caplog.set_level(logging.DEBUG)
    secret = "my card 4111 1111 1111 1111 and jane.doe@example.com"
    gw = start_gateway(upstream.url, {"flags_ttl_s": 0.1, "log_sample": 1.0}, db_url=url)
    try:
        key = run_cli("keys", "create", "billing-service", "--db", url).strip()
        deadline = time.time() + 30
        while httpx.post(gw.url + "/v1/chat/completions", json={}).status_code != 401:
            assert time.time() < deadline, "the new key did not turn auth on"
            time.sleep(0.05)
        client, msg = sdk(gw, key=key), [{"role": "user", "content": secret}]
        client.chat.completions.create(model="base-a", messages=msg)
        list(client.chat.completions.create(model="base-a", messages=msg, stream=True))
        with pytest.raises(openai.AuthenticationError):
            sdk(gw, key="tw-wrong-" + "x" * 40).chat.completions.create(
                model="base-a", messages=msg
            )
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="base-a", messages=msg, max_tokens=10_000)
        set_faults(upstream, model="base-a", error_rate=1.0, status=500)
        with pytest.raises(openai.APIStatusError):
            client.with_options(max_retries=0).chat.completions.create(model="base-a", messages=msg)
    finally:
        set_faults(upstream, model="base-a", error_rate=0.0)
        gw.stop()
    out, err = capfd.readouterr()
    client_side = ("openai", "httpx", "httpcore")  # this test's own client runs in-process
    server = [r for r in caplog.records if not r.name.startswith(client_side)]
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in server) + out + err
    for needle in (key, "tw-wrong-", "4111", "jane.doe", "my card"):
        assert needle not in logged, needle
