"""``@task``: a step of a flow, recorded as a task run, retried on error, run at once or submitted.

    @task(retries=3, retry_delay_seconds=1)
    def fetch(url: str) -> bytes: ...

    @flow
    def crawl(urls: list[str]):
        first = fetch(urls[0])                          # runs now, in the flow's thread
        futures = [fetch.submit(url) for url in urls]   # run on the flow's task runner
        pages = fetch.map(urls)                         # the same, one task run per url
        return [future.result() for future in futures]

Inside a flow run, every call is a task run on the API (its states, attempts and logs); a future
passed to another task is replaced by its result. Outside a flow run, calling a task is calling the
function, with its retries. An ``async def`` task is awaited in an async flow (``await fetch(url)``)
and run to completion when called from synchronous code.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from functools import update_wrapper
from typing import Any, Generic, ParamSpec, TypeVar, overload

from sluice.errors import ConfigurationError

P = ParamSpec("P")
R = TypeVar("R")

_fallback_logger = logging.getLogger("sluice.tasks")


class unmapped:  # Prefect 2's name, kept for flows moving over
    """Wrap an iterable argument of ``task.map`` so that every task run gets it whole."""

    def __init__(self, value: Any) -> None:
        self.value = value


class Task(Generic[P, R]):
    """A function decorated with ``@task``: recorded as a task run inside a flow run, retried on error."""

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        retries: int = 0,
        retry_delay_seconds: float = 0,
        tags: Iterable[str] = (),
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {fn!r}")
        if retries < 0 or retry_delay_seconds < 0:
            raise ConfigurationError(f"task {fn.__name__!r}: retries and retry_delay_seconds must not be negative")
        from sluice.task_engine import task_key_of

        self.fn = fn
        self.name = name or fn.__name__
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.tags = tuple(tags)
        self.task_key = task_key_of(fn)
        self.is_async = inspect.iscoroutinefunction(fn)
        update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r})"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task now: inside a flow run as a recorded task run; its result, or its last error.

        An async task returns a coroutine when the caller is async (await it), and runs to completion
        when the caller is synchronous code.
        """
        from sluice.context import get_flow_run_context

        if get_flow_run_context() is None:
            if self.is_async:
                return self._call_plain_async(args, kwargs)  # type: ignore[return-value]
            return self._call_plain(args, kwargs)
        from sluice.task_engine import call_task, call_task_async

        if self.is_async:
            coroutine = call_task_async(self, args, dict(kwargs))
            if caller_is_async():
                return coroutine  # type: ignore[return-value]
            return run_coroutine_blocking(coroutine)
        return call_task(self, args, dict(kwargs))

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Run the task on the flow run's task runner; returns a ``sluice.task_runners.TaskFuture``.

        Only inside a flow run. In an async flow (as in Prefect 2) it returns an awaitable giving the
        future, so ``future = await task.submit(...)`` works; the task is submitted either way.
        """
        from sluice.task_engine import submit_task

        future = submit_task(self, args, dict(kwargs))
        if future.asynchronous:
            return _ready(future)
        return future

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """Submit one task run per item of the iterable arguments (zipped); the list of their futures.

        Arguments that are not iterable, strings, mappings and ``unmapped(value)`` are given whole to
        every run. Iterables of different lengths are a ``ConfigurationError``. In an async flow,
        returns an awaitable giving the list.
        """
        calls = _mapped_calls(self.name, args, kwargs)
        from sluice.task_engine import submit_task

        futures = [submit_task(self, call_args, call_kwargs) for call_args, call_kwargs in calls]
        if futures and futures[0].asynchronous:
            return _ready(futures)
        return futures

    def with_options(self, **options: Any) -> Task[P, R]:
        """A copy of the task with some options changed (``name``, ``retries``, ``retry_delay_seconds``, ``tags``)."""
        current = {
            "name": self.name,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "tags": self.tags,
        }
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(f"with_options: unknown option(s) {', '.join(sorted(unknown))}")
        return Task(self.fn, **{**current, **options})

    def _call_plain(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> R:
        """Outside a flow run: the function with its retries, attempts logged to ``sluice.tasks``."""
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self.fn(*args, **kwargs)
            except Exception as exc:
                if attempt == attempts:
                    raise
                self._note_retry(attempt, attempts, exc)
                if self.retry_delay_seconds:
                    time.sleep(self.retry_delay_seconds)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _call_plain_async(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return await self.fn(*args, **kwargs)  # type: ignore[misc]
            except Exception as exc:
                if attempt == attempts:
                    raise
                self._note_retry(attempt, attempts, exc)
                await asyncio.sleep(self.retry_delay_seconds)
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_retry(self, attempt: int, attempts: int, exc: Exception) -> None:
        _fallback_logger.warning(
            "Task %r attempt %d of %d failed: %s: %s. Retrying in %gs.",
            self.name,
            attempt,
            attempts,
            type(exc).__name__,
            exc,
            self.retry_delay_seconds,
        )


async def _ready(value: Any) -> Any:
    return value


def _is_mapped(value: Any) -> bool:
    if isinstance(value, str | bytes | Mapping | unmapped):
        return False
    return isinstance(value, Iterable)


def _mapped_calls(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """The (args, kwargs) of each run ``task.map`` makes."""
    positional = [list(value) if _is_mapped(value) else value for value in args]
    keywords = {key: list(value) if _is_mapped(value) else value for key, value in kwargs.items()}
    lengths = {len(value) for value in [*positional, *keywords.values()] if isinstance(value, list)}
    if not lengths:
        raise ConfigurationError(f"{name}.map() needs at least one iterable argument to map over")
    if len(lengths) > 1:
        raise ConfigurationError(
            f"{name}.map(): the iterable arguments have different lengths ({', '.join(map(str, sorted(lengths)))}); "
            "wrap an argument in unmapped(...) to give it whole to every run"
        )
    (count,) = lengths

    def pick(value: Any, index: int) -> Any:
        if isinstance(value, unmapped):
            return value.value
        return value[index] if isinstance(value, list) else value

    return [
        (
            tuple(pick(value, index) for value in positional),
            {key: pick(value, index) for key, value in keywords.items()},
        )
        for index in range(count)
    ]


def caller_is_async() -> bool:
    """True when the code calling a flow or task runs in an event loop it can await in: inside an
    async task or flow (not a synchronous one running in a loop's thread), or outside any run with a
    loop running."""
    from sluice.context import get_flow_run_context, get_task_run_context

    task_context = get_task_run_context()
    if task_context is not None:
        return task_context.is_async and _loop_running()
    flow_context = get_flow_run_context()
    if flow_context is not None:
        return bool(getattr(flow_context.flow, "is_async", False)) and _loop_running()
    return True


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_coroutine_blocking(coroutine: Any) -> Any:
    """Run ``coroutine`` to completion from synchronous code; its result (in a thread of its own
    when this thread already runs an event loop, keeping the caller's context)."""
    if not _loop_running():
        return asyncio.run(coroutine)
    import concurrent.futures
    import contextvars

    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


@overload
def task(fn: Callable[P, R]) -> Task[P, R]: ...


@overload
def task(
    *, name: str | None = None, retries: int = 0, retry_delay_seconds: float = 0, tags: Iterable[str] = ()
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Turn a function (or coroutine function) into a ``Task``: bare (``@task``) or with ``name``,
    ``retries``, ``retry_delay_seconds``, ``tags``."""
    if fn is None:
        return lambda function: Task(function, **options)
    return Task(fn, **options)
