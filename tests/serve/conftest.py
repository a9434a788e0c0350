"""Fixtures for the gateway tests: a scripted OpenAI-compatible upstream on a loopback port and
a factory for `tunewise serve` apps in front of it (real HTTP, real `openai` SDK)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from serve_helpers import start_gateway

from tunewise.serve.testing import ServerThread, scripted_app


def _scripted() -> ServerThread:
    """A base `base-a`, adapter `ad-good` on it and `ad-other` on another base."""
    return ServerThread(scripted_app(["base-a"], {"ad-good": "base-a", "ad-other": "base-b"}))


@pytest.fixture
def upstream() -> Iterator[ServerThread]:
    with _scripted() as server:
        yield server


@pytest.fixture
def gateway(upstream: ServerThread) -> Iterator[Callable[..., ServerThread]]:
    """`gateway(serve_overrides, db_url=None, **upstream_fields)` -> a running gateway in front of
    `upstream`."""
    started: list[ServerThread] = []

    def make(
        overrides: dict | None = None, db_url: str | None = None, **up: object
    ) -> ServerThread:  # type: ignore[type-arg]
        started.append(start_gateway(upstream.url, overrides, db_url, **up))
        return started[-1]

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def shared_gateway() -> Iterator[ServerThread]:
    """One gateway (no store) and its upstream for a whole module of read-only tests."""
    with _scripted() as up, start_gateway(up.url) as gw:
        yield gw
