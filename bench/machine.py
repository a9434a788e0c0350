"""The machine a benchmark figure was measured on, recorded with every figure.

The CPU changes between sessions, and bf16 speed depends on AMX-BF16 / AVX512-BF16, so each
result names the CPU model and which of those instructions it has. Scripts run as
`python bench/X.py`, so bench/ is sys.path[0] and `from machine import machine` finds this file.
Stdlib only: no torch, no tunewise import.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def _cpuinfo() -> dict[str, str]:
    """The first value of each /proc/cpuinfo field (all cores report the same model and flags)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def machine() -> dict[str, Any]:
    """CPU model, its bf16 instructions, usable cores, Python version and load average now."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())  # whole words: "avx512_bf16" is not "bf16"
    return {
        "cpu": info.get("model name") or platform.processor() or "?",
        "bf16_flags": sorted(f for f in BF16_FLAGS if f in flags),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "load_avg": os.getloadavg(),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(machine(), indent=2))
