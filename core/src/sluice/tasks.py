"""``@task``: a plain step inside a flow, with retries whose attempts go to the run's logs.

    @task(retries=3, retry_delay_seconds=1)
    def fetch(url: str) -> bytes: ...

A task is a function call: it returns its result or raises its last error. Inside a flow run, each
failed attempt and the final outcome are logged to the run; outside one, the task still retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import update_wrapper
from typing import Any, Generic, ParamSpec, TypeVar, overload

from sluice.errors import ConfigurationError

P = ParamSpec("P")
R = TypeVar("R")

_fallback_logger = logging.getLogger("sluice.tasks")


class Task(Generic[P, R]):
    """A function decorated with ``@task``: retried on error, its attempts logged to the flow run."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        retries: int = 0,
        retry_delay_seconds: float = 0,
    ) -> None:
        if retries < 0 or retry_delay_seconds < 0:
            raise ConfigurationError(f"task {fn.__name__!r}: retries and retry_delay_seconds must not be negative")
        self.fn = fn
        self.name = name or fn.__name__
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r})"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task, retrying up to ``retries`` times; raise the last error if every attempt fails."""
        logger = _logger()
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                result = self.fn(*args, **kwargs)
            except Exception as exc:
                if attempt == attempts:
                    logger.error(
                        "Task %r failed after %d attempt%s: %s: %s",
                        self.name,
                        attempt,
                        "s" if attempt > 1 else "",
                        type(exc).__name__,
                        exc,
                    )
                    raise
                logger.warning(
                    "Task %r attempt %d of %d failed: %s: %s. Retrying in %gs.",
                    self.name,
                    attempt,
                    attempts,
                    type(exc).__name__,
                    exc,
                    self.retry_delay_seconds,
                )
                if self.retry_delay_seconds:
                    time.sleep(self.retry_delay_seconds)
                continue
            logger.info("Task %r completed (attempt %d of %d)", self.name, attempt, attempts)
            return result
        raise AssertionError("unreachable")  # pragma: no cover


def _logger() -> Any:
    from sluice.context import get_flow_run_context

    if get_flow_run_context() is None:
        return _fallback_logger
    from sluice.logging import get_run_logger

    return get_run_logger()


@overload
def task(fn: Callable[P, R]) -> Task[P, R]: ...


@overload
def task(
    *, name: str | None = None, retries: int = 0, retry_delay_seconds: float = 0
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Turn a function into a ``Task``: bare (``@task``) or with ``name``, ``retries``, ``retry_delay_seconds``."""
    if fn is None:
        return lambda function: Task(function, **options)
    return Task(fn, **options)
