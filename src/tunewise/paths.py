"""Where tunewise keeps state: one folder per project, like `.git`.

`TUNEWISE_HOME` overrides it; the default is `.tunewise/` in the current directory. Jobs
(`jobs.db`), the registry (`registry.db`) and the eval cache live there. Model conversions
are shared across projects under `tunewise.models.cache_dir()`.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """The project's state folder (created on first use)."""
    path = Path(os.environ.get("TUNEWISE_HOME") or ".tunewise")
    path.mkdir(parents=True, exist_ok=True)
    return path
