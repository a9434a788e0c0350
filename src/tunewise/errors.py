"""The error hierarchy. The CLI turns any TunewiseError into a one-line message and an exit code."""

from __future__ import annotations


class TunewiseError(Exception):
    """Base class for errors the user can fix. The message says what is wrong and what to do."""

    exit_code = 1


class ConfigError(TunewiseError):
    """The project config (tunewise.yaml) or a command option is invalid."""

    exit_code = 2


class DataError(TunewiseError):
    """Input data cannot be used (unreadable file, too few valid rows, policy violation)."""

    exit_code = 3


class MissingDependencyError(TunewiseError):
    """An optional dependency is not installed."""

    exit_code = 4

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package; install it with: "
            f"pip install 'tunewise[{extra}]'"
        )
        self.package = package
        self.extra = extra


class ModelError(TunewiseError):
    """A model cannot be found, loaded or matched against its manifest."""

    exit_code = 5


class JobError(TunewiseError):
    """A training job is missing or in a state that does not allow the request."""

    exit_code = 6


class ProviderError(TunewiseError):
    """A hosted provider (OpenAI, AWS Bedrock, S3) refused or failed a request."""

    exit_code = 8


class GateBlocked(TunewiseError):
    """The release gate blocked a candidate."""

    exit_code = 10


class RegistryError(TunewiseError):
    """The model registry refused an operation or is inconsistent."""

    exit_code = 7


class RolloutError(TunewiseError):
    """A rollout cannot start (checklist, gate, control) or is not in a state that allows it."""

    exit_code = 11


class RolloutNotFound(RolloutError):
    """No rollout (or none running) on the feature named."""


class StoreError(TunewiseError):
    """The tunewise database cannot be opened, migrated or imported into."""

    exit_code = 8


def require(module: str, extra: str, purpose: str):  # type: ignore[no-untyped-def]
    """Import an optional module or raise MissingDependencyError with an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(module.split(".")[0], extra, purpose) from exc
