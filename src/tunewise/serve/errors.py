"""Errors the gateway answers with: each carries its HTTP status and OpenAI's error fields.

Anything raised while serving a request ends up as `{"error": {"message", "type", "param",
"code"}}` with `status` through the one handler in `app.py`; upstreams raise these too. `fault`
says whether the error counts against the upstream that raised it (canary failure, circuit
breaker) and allows a fallback; `capability` marks a refusal of what this upstream cannot do (a
canary failure and a fallback, but never a breaker count: the upstream itself is healthy);
`retryable` whether the same upstream may be asked again.
"""

from __future__ import annotations

from typing import Any

from tunewise.errors import TunewiseError


class ApiError(TunewiseError):
    """An error with an HTTP status and OpenAI's `type`/`code`/`param`."""

    status = 400
    type = "invalid_request_error"
    code: str | None = None
    fault = False
    capability = False
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(ApiError):
    """The request is malformed or asks for something the model cannot do (400)."""

    code = "invalid_request"


class Unsupported(InvalidRequest):
    """This upstream cannot honour a feature the request asks for (tools, logprobs, JSON mode)
    while another upstream might (400). Not a fault: the breaker never counts it. A canary that
    raises it falls back to control, and the request counts as a canary failure."""

    code = "unsupported_parameter"
    capability = True


class ContextLengthExceeded(InvalidRequest):
    """The messages (plus max_tokens) do not fit the model's context window (400)."""

    code = "context_length_exceeded"


class AuthenticationFailed(ApiError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(ApiError):
    status = 403
    type = "permission_error"
    code = "admin_key_required"


class NotFound(ApiError):
    status = 404
    code = "model_not_found"


class Overloaded(ApiError):
    """The upstream's queue is full: try again after `retry_after_s` seconds (429)."""

    status = 429
    type = "rate_limit_error"
    code = "overloaded"
    fault = True

    def __init__(self, message: str, *, retry_after_s: float = 1.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s
        self.headers.setdefault("Retry-After", str(max(1, round(retry_after_s))))


class UpstreamError(ApiError):
    """The upstream failed (5xx, connection refused, malformed answer, broken stream) (502)."""

    status = 502
    type = "server_error"
    code = "upstream_error"
    fault = True
    retryable = True


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer within the request's deadline (504)."""

    status = 504
    code = "upstream_timeout"
    retryable = False  # the deadline is spent


class ModelUnavailable(ApiError):
    """The upstream cannot serve this model (adapter missing or on another base, circuit open) (503)."""

    status = 503
    type = "server_error"
    code = "model_unavailable"
    fault = True
