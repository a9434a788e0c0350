"""OpenMP's wait policy, chosen when a command starts by how busy the machine already is.

torch's OpenMP threads spin between parallel regions by default. With the cores to themselves that
is a little faster; when other work shares the cores, a spinning thread holds a core the others
need. Measured (bench/omp_wait_policy.py, 2 cores, Intel Xeon AMX-BF16, 8 LoRA steps of the
quickstart and one batch of 16 generations): idle, PASSIVE cost 12% in training (21.8 -> 24.4 s)
and 16% in generation; beside two busy processes, spinning was 2.2x slower in training (78.7 vs
36.5 s) and 1.4x in generation. So every command sets `OMP_WAIT_POLICY=PASSIVE` when another
task is already running as it starts (sampled over 50 ms) and leaves torch's default otherwise;
`tunewise monitor` always sets it (it runs from cron beside other work). OpenMP reads the variable
once, when torch loads, so this must run before anything imports torch; an explicit
OMP_WAIT_POLICY always wins.
"""

from __future__ import annotations

import os
import sys

SAMPLES, INTERVAL_S = 5, 0.01
"""How often /proc/loadavg's runnable count is read when a command starts (50 ms in all)."""


def passive_wanted(others_running: float, *, always: bool = False) -> bool:
    """Sleep while waiting when any other task wants a CPU: torch takes every core by default,
    so one busy neighbour already oversubscribes them."""
    return always or others_running >= 1


def others_running(samples: int = SAMPLES, interval_s: float = INTERVAL_S) -> float:
    """Median number of runnable tasks besides this process (the 4th field of /proc/loadavg,
    "running/total", counts the reader too); 0 where there is no /proc. Not the load average:
    it lags a minute and counts the user's own job that just ended."""
    import statistics
    import time

    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg", encoding="ascii") as fh:
                running = int(fh.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        counts.append(max(running - 1, 0))
        if i + 1 < samples:
            time.sleep(interval_s)
    return float(statistics.median(counts))


def prefer_passive_threads(*, always: bool = False) -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE when the machine is shared (or `always`); True when it did."""
    if "torch" in sys.modules or "OMP_WAIT_POLICY" in os.environ:
        return False
    if not passive_wanted(0.0 if always else others_running(), always=always):
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True
