"""Shared Rich consoles: results on stdout, diagnostics and progress on stderr."""

from __future__ import annotations

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
