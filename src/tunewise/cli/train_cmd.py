"""CLI verbs of this stage (filled in by the stage's issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this stage's verbs to the root app."""
