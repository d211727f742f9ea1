"""Benchmark: wall time of `sluice --help` and `sluice --version` with every plugin installed.

Prints one figure per line, e.g. ``cli sluice --help median_s=0.120``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

SLUICE = str(Path(sys.executable).with_name("sluice"))
RUNS = 15


def median_wall_time(*args: str) -> float:
    """Median wall time of running ``sluice *args`` (after one warm-up run)."""
    subprocess.run([SLUICE, *args], capture_output=True, check=True)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([SLUICE, *args], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Print the figures."""
    baseline = median_wall_time_python()
    print(f"cli python -c pass median_s={baseline:.3f}")
    for args in (("--help",), ("--version",), ("plugins", "ls", "--json")):
        print(f"cli sluice {' '.join(args)} median_s={median_wall_time(*args):.3f}")


def median_wall_time_python() -> float:
    """Median wall time of a bare interpreter start, for comparison."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    main()
