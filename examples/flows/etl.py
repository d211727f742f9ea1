"""An ETL-ish flow with parameters: extract numbers, transform them, load a summary."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from sluice import flow, get_run_logger, task


@task
def extract(count: int, seed: int) -> list[int]:
    """Make ``count`` pseudo-random numbers (a stand-in for reading a source)."""
    value, numbers = seed, []
    for _ in range(count):
        value = (value * 1103515245 + 12345) % 2**31
        numbers.append(value % 1000)
    return numbers


@task
def transform(numbers: list[int], scale: float) -> dict[str, float]:
    """Summarise the numbers, scaled."""
    scaled = [number * scale for number in numbers]
    return {"count": len(scaled), "mean": statistics.fmean(scaled), "max": max(scaled), "min": min(scaled)}


@task
def load(summary: dict[str, float], output: str | None) -> None:
    """Write the summary as JSON (or only log it when no output file is given)."""
    if output:
        Path(output).write_text(json.dumps(summary, indent=2))


@flow(name="etl", retries=1, retry_delay_seconds=1)
def etl(count: int = 100, scale: float = 1.0, seed: int = 42, output: str | None = None) -> dict[str, float]:
    """Extract ``count`` numbers, transform them with ``scale``, load the summary to ``output``."""
    logger = get_run_logger()
    numbers = extract(count, seed)
    logger.info("Extracted %d numbers", len(numbers))
    summary = transform(numbers, scale)
    logger.info("Summary: %s", summary)
    load(summary, output)
    return summary
