"""The `tunewise` command line: argument parsing and printing over the library functions.

One error boundary: a TunewiseError becomes a one-line message and its exit code; a traceback
is shown only with TUNEWISE_DEBUG=1. Each stage adds its verbs through `register(app)` in its
own module here, so the CLI stays a thin layer.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from tunewise import __version__
from tunewise.errors import TunewiseError


def debug_enabled() -> bool:
    return os.environ.get("TUNEWISE_DEBUG", "").strip() not in {"", "0", "false", "no"}


def _fail(message: str, exit_code: int) -> typer.Exit:
    from tunewise.cli._console import err_console

    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    return typer.Exit(exit_code)


class _Boundary(TyperGroup):
    """Root group: turns library errors into clean messages and exit codes."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except TunewiseError as exc:
            if debug_enabled():
                raise
            raise _fail(str(exc), exc.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except BrokenPipeError:  # the reader left (`tunewise ... | head`): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no 2nd one at exit
            raise typer.Exit(141) from None  # as a shell reports SIGPIPE
        except ValidationError as exc:  # options validated by a pydantic model: a user error
            if debug_enabled():
                raise
            from tunewise.overlay import humanize_error

            problems = "; ".join(humanize_error(e) for e in exc.errors())  # type: ignore[arg-type]
            raise _fail(f"invalid option: {problems}", 2) from None
        except Exception as exc:
            # Click's own usage errors pass through untouched; anything else is a bug.
            if type(exc).__module__.split(".")[0] in {"click", "typer"}:
                raise
            if debug_enabled():
                raise
            raise _fail(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in tunewise; rerun with TUNEWISE_DEBUG=1 for the traceback and report it.",
                70,
            ) from None


app = typer.Typer(
    name="tunewise",
    cls=_Boundary,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    help=(
        "tunewise: decide, prepare data, fine-tune, evaluate against the base, gate, register, "
        "serve and roll back.\n\nStart with `tunewise data check FILE` or `tunewise run tunewise.yaml`."
    ),
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tunewise {__version__}")
        raise typer.Exit()


_NO_TORCH = frozenset({"config", "db", "registry"})
"""Command groups that never load torch: no need to sample the machine's load for them."""


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """tunewise command line."""
    if ctx.invoked_subcommand in _NO_TORCH:
        return
    from tunewise.threads import prefer_passive_threads

    prefer_passive_threads()  # torch is not loaded yet: commands import it lazily


def _register_all() -> None:
    from tunewise.cli import (
        config_cmd,
        data_cmd,
        db_cmd,
        decide_cmd,
        eval_cmd,
        export_cmd,
        monitor_cmd,
        registry_cmd,
        rollout_cmd,
        run_cmd,
        serve_cmd,
        train_cmd,
        tune_cmd,
        worker_cmd,
    )

    for module in (
        config_cmd,
        decide_cmd,
        data_cmd,
        train_cmd,
        tune_cmd,
        export_cmd,
        eval_cmd,
        registry_cmd,
        run_cmd,
        db_cmd,
        monitor_cmd,
        worker_cmd,
        serve_cmd,
        rollout_cmd,
    ):
        module.register(app)


_register_all()


def main() -> None:
    """Entry point of the `tunewise` script."""
    # Our own progress bars are on stderr; the libraries' per-file bars and deprecation notices
    # are noise for a CLI user (TUNEWISE_DEBUG=1 keeps them).
    if not debug_enabled():
        import warnings

        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover - interactive
        sys.stderr.write("interrupted\n")
        sys.exit(130)
