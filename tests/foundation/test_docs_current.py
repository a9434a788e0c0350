"""docs/configuration.md is generated from the config models; it must match them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_configuration_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "config_reference.py"), "--check"]
    )
    assert result.returncode == 0, (
        "docs/configuration.md is stale: run python scripts/config_reference.py"
    )


def test_examples_validate() -> None:
    from tunewise.config import validate_config_file

    for cfg in sorted((REPO / "examples").glob("*/tunewise.yaml")):
        assert validate_config_file(cfg) == [], cfg
