"""The OpenAI SDK for hosted fine-tuning: the client, and its errors turned into clear ones.

The SDK (3.x, over httpx2) is imported only here and only when a job needs it. Its retries are
kept for uploads and reads; job creation is sent once (`max_retries=0`) because the two 429s
that matter there, an organization's daily job quota and a provider refusing new jobs, do not
clear by retrying.
"""

from __future__ import annotations

import os
from typing import Any

from tunewise.errors import ConfigError, DataError, ProviderError, TunewiseError, require
from tunewise.train.config import OpenAIConfig

DEFAULT_URL = "https://api.openai.com/v1"
WIND_DOWN = (
    "OpenAI's public notices say self-serve fine-tuning stops taking new jobs from 2027-01-06"
)
ELSEWHERE = (
    "train on your own hardware instead: `tunewise train --backend local`, or run the same API "
    "with `tunewise serve --workers 1` and point train.openai.base_url (or OPENAI_BASE_URL) at it"
)
# Codes and phrases of a provider that no longer accepts fine-tuning jobs at all.
REFUSAL_CODES = {"fine_tuning_unavailable", "fine_tuning_disabled", "model_not_available"}
REFUSAL_WORDS = ("no longer", "not available", "deprecated", "disabled", "not supported")


class DailyLimitReached(ProviderError):
    """429 daily_rate_limit_exceeded: the organization's fine-tuning jobs for today are used."""


class JobsRefused(ProviderError):
    """The provider refuses to create fine-tuning jobs (wound down, or not offered to this org)."""


def base_url(cfg: OpenAIConfig) -> str:
    return cfg.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_URL


def make_client(cfg: OpenAIConfig) -> Any:
    """An `openai.OpenAI` client for `cfg`; ConfigError when the key is missing."""
    openai = require("openai", "eval", "The OpenAI training backend")
    key = os.environ.get(cfg.api_key_env)
    if not key:
        raise ConfigError(
            f"the OpenAI backend needs an API key in ${cfg.api_key_env} (train.openai.api_key_env); "
            "any non-empty value works for tunewise serve without keys"
        )
    return openai.OpenAI(
        api_key=key,
        base_url=base_url(cfg),
        organization=cfg.organization,
        max_retries=2,
        timeout=120.0,
    )


def _detail(exc: Any) -> str:
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "code", None)
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    head = " ".join(str(p) for p in (f"HTTP {status}" if status else None, code) if p)
    return f"{head}: {message or exc}" if head else str(message or exc)


def provider_error(exc: BaseException, doing: str, *, cfg: OpenAIConfig) -> TunewiseError:
    """A clear tunewise error for an SDK exception raised while `doing` something."""
    import openai

    if isinstance(exc, TunewiseError):
        return exc
    where = base_url(cfg)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(
            f"{doing}: cannot reach {where} ({exc}); check train.openai.base_url / "
            "OPENAI_BASE_URL and the network"
        )
    if isinstance(exc, openai.AuthenticationError):
        return ProviderError(
            f"{doing}: {where} refused the API key ({_detail(exc)}); set ${cfg.api_key_env}"
        )
    code = getattr(exc, "code", None)
    if code == "daily_rate_limit_exceeded":
        return DailyLimitReached(
            f"{doing}: the organization's daily quota of fine-tuning jobs is used "
            f"({_detail(exc)}). Create it again tomorrow, or {ELSEWHERE}"
        )
    param = getattr(exc, "param", None)
    if isinstance(exc, openai.BadRequestError) and (
        param in ("file", "training_file", "validation_file") or "file" in str(code or "")
    ):
        return DataError(f"{doing}: the provider rejected the file ({_detail(exc)})")
    return ProviderError(f"{doing}: {_detail(exc)}")


def refusal(exc: BaseException, cfg: OpenAIConfig) -> JobsRefused | None:
    """A JobsRefused when a create-job error means the provider takes no new jobs at all."""
    import openai

    if not isinstance(exc, openai.APIStatusError) or exc.code == "daily_rate_limit_exceeded":
        return None
    text = _detail(exc).lower()
    if (
        exc.status_code in (403, 404, 410) and exc.param in (None, "model")
    ) or exc.code in REFUSAL_CODES:
        if exc.status_code == 404 and not any(w in text for w in REFUSAL_WORDS):
            return None  # an unknown model name is an ordinary mistake, said as such
        return JobsRefused(
            f"{base_url(cfg)} refused to create the fine-tuning job ({_detail(exc)}). "
            f"{WIND_DOWN}; {ELSEWHERE}"
        )
    return None


def transient(exc: BaseException) -> bool:
    """Worth polling again later: network errors, 5xx, and 429s other than the daily quota."""
    import openai

    if isinstance(exc, openai.APIConnectionError):
        return True
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429:
            return exc.code != "daily_rate_limit_exceeded"
        return exc.status_code >= 500
    return False
