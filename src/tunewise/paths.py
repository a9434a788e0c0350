"""Where tunewise keeps state: one folder per project, like `.git`.

`TUNEWISE_HOME` overrides it; the default is `.tunewise/` in the current directory. The one
database (`tunewise.db`: registry, jobs, ...; see `tunewise.store`) and the eval cache live there.
Model conversions are shared across projects under `tunewise.models.cache_dir()`.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_dir(*, create: bool = True) -> Path:
    """The project's state folder (created on first use unless `create=False`)."""
    path = Path(os.environ.get("TUNEWISE_HOME") or ".tunewise")
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
