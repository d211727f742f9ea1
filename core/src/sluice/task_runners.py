"""Task runners: where a flow's submitted tasks run. The public contract for task-runner plugins.

    from sluice import flow, task
    from sluice.task_runners import ThreadPoolTaskRunner

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=8))   # or task_runner="threads"
    def fan_out(urls: list[str]):
        futures = [fetch.submit(url) for url in urls]
        return [future.result() for future in futures]

A runner is handed ``TaskAttempt`` objects, one per attempt of a task run, and returns a
``concurrent.futures.Future`` of its ``AttemptOutcome``. The flow's engine does everything else, in
its own process: it records the task run and its states on the API, retries failed attempts, waits
for futures passed as arguments, and ships the task's logs. So a runner never needs API access: a
``TaskAttempt`` is a picklable callable that runs the task's function and returns its result or
error, its timing and — when it ran in another process — the log records the task made there.

Writing a runner (a plugin registers the class with ``register_task_runners``):

    class MyRunner(TaskRunner):
        slug = "my-runner"
        def start(self) -> None: ...            # create the pool / connect the client, per flow run
        def submit(self, attempt): ...          # run attempt() somewhere; return a concurrent Future
        def shutdown(self) -> None: ...         # release what start() made

A runner object given to ``@flow`` is copied (``duplicate()``) for each flow run before ``start()``,
so keep the resources ``start()`` makes out of ``__init__``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import inspect
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from contextvars import Context
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar
from uuid import UUID

from sluice.errors import ConfigurationError, FlowTimeoutError, SluiceError

if TYPE_CHECKING:  # pragma: no cover
    from sluice.schemas import State

R = TypeVar("R")

__all__ = [
    "AttemptOutcome",
    "ConcurrentTaskRunner",
    "SequentialTaskRunner",
    "TaskAttempt",
    "TaskFuture",
    "TaskRunCrashed",
    "TaskRunner",
    "TaskRunsFailed",
    "ThreadPoolTaskRunner",
    "UpstreamTaskError",
    "resolve_task_runner",
]

_SLUICE_FOLDER = str(Path(__file__).resolve().parent)


class UpstreamTaskError(SluiceError, RuntimeError):
    """A task was given the future of a task run that did not complete; it was not run."""


class TaskRunCrashed(SluiceError, RuntimeError):
    """The task runner could not run a task (it refused the task, or its worker died)."""


class TaskRunsFailed(SluiceError, RuntimeError):
    """A flow that returned nothing had submitted task runs that did not complete: the flow run fails."""


# -- an attempt and its outcome --------------------------------------------------------------------


@dataclass
class AttemptOutcome:
    """What one attempt of a task run gave: its result or its error, and when it ran.

    ``exception`` is the error the task raised (None when it returned ``result``); ``traceback`` its
    formatted traceback, kept as text because a traceback does not cross processes. ``logs`` are the
    records the task logged where no engine could ship them (a remote worker); the engine ships them.
    """

    result: Any = None
    exception: BaseException | None = None
    traceback: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    #: True when the attempt told the engine itself it started (it ran in the engine's process).
    start_reported: bool = False

    @property
    def ok(self) -> bool:
        """True when the task returned."""
        return self.exception is None


@dataclass
class TaskAttempt:
    """One attempt of a task run: a picklable callable; calling it runs the task and returns an ``AttemptOutcome``.

    It never raises for the task's own errors (they are in the outcome). Inside, ``get_run_logger()``
    logs to the task run. Run it where you like: in a thread of the engine's process, its logs go to
    the API as usual and its start is reported at once; anywhere else (a Dask worker), its logs come
    back in the outcome. A coroutine function is run to completion in an event loop of its own.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    task_run_id: UUID
    task_run_name: str
    task_name: str
    attempt: int
    flow_run_id: UUID
    flow_run_name: str
    flow_name: str
    #: The engine's context for this task (not pickled: a copy on another process has none).
    context: Context | None = field(default=None, repr=False, compare=False)
    #: Told the moment the attempt starts, in the engine's process (not pickled).
    on_start: Callable[[datetime], None] | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["context"] = None
        state["on_start"] = None
        reference = _task_reference(self.fn)
        if reference is not None:
            # By reference, so the worker runs the module's own code (tracebacks name its file);
            # a function pickled by value loses its file name.
            state["fn"] = reference
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("fn"), _TaskReference):
            state["fn"] = state["fn"].load()
        self.__dict__.update(state)

    def modules_to_ship(self) -> list[str]:
        """Modules a remote runner must send by value (``cloudpickle.register_pickle_by_value``):
        the flow files Sluice imported by path, which no worker can import by name."""
        from sluice.flows import flow_file_modules

        return sorted(flow_file_modules())

    def __call__(self) -> AttemptOutcome:
        """Run the task's function once; its result or error, timing and (remote) logs."""
        if self.context is not None:
            return self.context.copy().run(self._run, True)
        return self._run(False)

    def _run(self, in_engine: bool) -> AttemptOutcome:
        from sluice.context import TaskRunContext, task_run_context

        captured: list[dict[str, Any]] | None = None if in_engine else []
        context = TaskRunContext(
            task_run_id=self.task_run_id,
            task_run_name=self.task_run_name,
            is_async=inspect.iscoroutinefunction(self.fn),
            flow_run_id=self.flow_run_id,
            flow_run_name=self.flow_run_name,
            flow_name=self.flow_name,
            captured_logs=captured,
        )
        started = datetime.now(UTC)
        reported = False
        if in_engine and self.on_start is not None:
            self.on_start(started)
            reported = True
        outcome = AttemptOutcome(started=started, start_reported=reported)
        with task_run_context(context):
            try:
                value = self.fn(*self.args, **self.kwargs)
                if inspect.isawaitable(value):
                    value = _run_coroutine(value)
                outcome.result = value
            except Exception as exc:
                if in_engine and isinstance(exc, FlowTimeoutError):
                    raise  # the timeout of the flow around the task: it ends the flow, not the attempt
                outcome.exception = _picklable(exc) if not in_engine else exc
                outcome.traceback = format_user_traceback(exc)
        outcome.ended = datetime.now(UTC)
        outcome.logs = captured or []
        return outcome


@dataclass(frozen=True)
class _TaskReference:
    """Where a task's function can be imported from: ``module.attribute.fn``."""

    module: str
    attribute: str

    def load(self) -> Callable[..., Any]:
        import importlib

        return getattr(importlib.import_module(self.module), self.attribute).fn


def _task_reference(fn: Callable[..., Any]) -> _TaskReference | None:
    """A reference to ``fn`` through the ``@task`` that wraps it at its module's top level, when there
    is one and its module can be imported by name elsewhere (not a flow file imported by path)."""
    import sys

    from sluice.flows import flow_file_modules

    module_name = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", "")
    if not module_name or "." in name or module_name == "__main__" or module_name in flow_file_modules():
        return None
    wrapper = getattr(sys.modules.get(module_name), name, None)
    if getattr(wrapper, "fn", None) is not fn:
        return None
    return _TaskReference(module_name, name)


def _run_coroutine(awaitable: Any) -> Any:
    """Await ``awaitable`` in a loop of its own (in a thread when this one already runs a loop)."""

    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, wait()).result()


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a ``RuntimeError`` saying what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def format_user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` from the user's code on: Sluice's own frames at its top are left out."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename.startswith(_SLUICE_FOLDER):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


# -- futures ---------------------------------------------------------------------------------------


class TaskFuture(Generic[R]):
    """The future of a submitted task run: its result once it ends.

    ``result()`` waits and returns what the task returned, or raises its error; ``wait()`` waits and
    returns the final state; ``state`` is the state now. Passed as an argument to another task, it
    is replaced by its result once it completed (the other task waits for it). In an async flow,
    ``await future.result()`` and ``await future.wait()`` work too; ``await future`` gives the state.
    """

    def __init__(
        self,
        task_run_id: UUID,
        name: str,
        final: concurrent.futures.Future[Any],
        state: Callable[[], State | None],
        asynchronous: bool = False,
    ) -> None:
        self.task_run_id = task_run_id
        self.name = name
        self._final = final
        self._state = state
        self.asynchronous = asynchronous

    def __repr__(self) -> str:
        state = self.state
        return f"TaskFuture(name={self.name!r}, state={state.type.value if state else None})"

    @property
    def state(self) -> State | None:
        """The task run's current state (None before it is recorded)."""
        return self._state()

    def done(self) -> bool:
        """True once the task run ended (completed, failed or crashed)."""
        return self._final.done()

    def add_done_callback(self, callback: Callable[[TaskFuture[R]], None]) -> None:
        """Call ``callback(self)`` once the task run ended (at once if it has)."""
        self._final.add_done_callback(lambda _: callback(self))

    def result(self, timeout: float | None = None, raise_on_failure: bool = True) -> Any:
        """Wait (at most ``timeout`` seconds) and return the task's result, or raise its error.

        With ``raise_on_failure=False`` a failed run's error is returned instead of raised. A timeout
        raises ``TimeoutError``. Called from an async flow, returns a coroutine to await.
        """
        if self.asynchronous:
            return self._result_async(timeout, raise_on_failure)
        return self._outcome(timeout, raise_on_failure)

    def _outcome(self, timeout: float | None, raise_on_failure: bool) -> Any:
        try:
            return self._final.result(timeout)
        except Exception as exc:
            if not self._final.done():  # not the task's own error (which may be a TimeoutError too)
                raise TimeoutError(f"task run {self.name!r} did not end within {timeout:g}s") from None
            if raise_on_failure:
                raise
            return exc

    async def _result_async(self, timeout: float | None, raise_on_failure: bool) -> Any:
        await asyncio.wait_for(asyncio.wrap_future(_shielded(self._final)), timeout)
        return self._outcome(0, raise_on_failure)

    def wait(self, timeout: float | None = None) -> State | None:
        """Wait (at most ``timeout`` seconds) for the task run to end; its state (not final on a timeout).

        Called from an async flow, returns a coroutine to await.
        """
        if self.asynchronous:
            return self._wait_async(timeout)  # type: ignore[return-value]
        concurrent.futures.wait([self._final], timeout)
        return self.state

    async def _wait_async(self, timeout: float | None) -> State | None:
        try:
            await asyncio.wait_for(asyncio.wrap_future(_shielded(self._final)), timeout)
        except (TimeoutError, Exception):
            pass
        return self.state

    def __await__(self) -> Generator[Any, None, State | None]:
        return self._wait_async(None).__await__()


def _shielded(future: concurrent.futures.Future[Any]) -> concurrent.futures.Future[Any]:
    """A future that ends when ``future`` does, so cancelling a wait never cancels the task run."""
    mirror: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def copy_over(done: concurrent.futures.Future[Any]) -> None:
        if mirror.done():
            return
        exception = done.exception()
        if exception is not None:
            mirror.set_exception(exception)
        else:
            mirror.set_result(done.result())

    future.add_done_callback(copy_over)
    return mirror


# -- runners ---------------------------------------------------------------------------------------


class TaskRunner(ABC):
    """Where the tasks a flow run submits (``task.submit()``, ``task.map()``) run.

    Subclasses set a unique ``slug`` (how ``@flow(task_runner="slug")`` names them) and implement
    ``submit``; ``start`` and ``shutdown`` surround each flow run. ``waits_for_each_task`` makes the
    engine wait for each submitted task before the flow goes on (a sequential runner).
    """

    slug: ClassVar[str] = ""
    waits_for_each_task: ClassVar[bool] = False

    def start(self) -> None:  # noqa: B027 - a runner without resources needs no start
        """Make what the runner needs (a pool, a client): called once per flow run, before any submit."""

    @abstractmethod
    def submit(self, attempt: TaskAttempt) -> concurrent.futures.Future[AttemptOutcome]:
        """Start running ``attempt()`` and return a future of its ``AttemptOutcome``.

        The attempt never raises for the task's errors; a future that raises means the runner could
        not run it (the task run is then CRASHED). Called from any thread.
        """

    def shutdown(self) -> None:  # noqa: B027 - a runner without resources has nothing to release
        """Release what ``start`` made: called once per flow run, after every task run ended."""

    def duplicate(self) -> TaskRunner:
        """A fresh copy of this runner (not started) for one flow run."""
        return copy.copy(self)

    def describe(self) -> str:
        """One line naming the runner and its settings, for the run's logs."""
        return type(self).__name__


class SequentialTaskRunner(TaskRunner):
    """Runs each submitted task at once, in the thread that submitted it: one at a time, in order."""

    slug = "sequential"
    waits_for_each_task = True

    def submit(self, attempt: TaskAttempt) -> concurrent.futures.Future[AttemptOutcome]:
        """Run ``attempt()`` now and return its finished future."""
        future: concurrent.futures.Future[AttemptOutcome] = concurrent.futures.Future()
        try:
            future.set_result(attempt())
        except BaseException as exc:
            future.set_exception(exc)
        return future


class ThreadPoolTaskRunner(TaskRunner):
    """Runs submitted tasks in a pool of threads of the flow's process (the default runner).

    :param max_workers: most tasks running at once (default: ``concurrent.futures``' own, at least 5).
    Tasks that wait on I/O run side by side; CPU-bound Python code is better sent to Dask.
    """

    slug = "threads"

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and max_workers < 1:
            raise ConfigurationError(f"ThreadPoolTaskRunner: max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Create the thread pool."""
        self._pool = concurrent.futures.ThreadPoolExecutor(self.max_workers, thread_name_prefix="sluice-task")

    def submit(self, attempt: TaskAttempt) -> concurrent.futures.Future[AttemptOutcome]:
        """Queue ``attempt()`` on the pool."""
        if self._pool is None:
            raise ConfigurationError("ThreadPoolTaskRunner.submit called before start()")
        return self._pool.submit(attempt)

    def shutdown(self) -> None:
        """Stop the pool (tasks still queued are not started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def duplicate(self) -> ThreadPoolTaskRunner:
        """A new, unstarted pool with the same size."""
        return ThreadPoolTaskRunner(self.max_workers)

    def describe(self) -> str:
        """``ThreadPoolTaskRunner(max_workers=N)``."""
        return f"ThreadPoolTaskRunner(max_workers={self.max_workers or 'default'})"


#: Prefect 2's name for the thread-pool runner.
ConcurrentTaskRunner = ThreadPoolTaskRunner


def resolve_task_runner(spec: TaskRunner | type[TaskRunner] | str | None) -> TaskRunner:
    """The runner ``@flow(task_runner=...)`` names: an instance, a class, a slug, or None (threads).

    A slug is looked up among the runners plugins register (``register_task_runners``); an unknown
    one says which are installed.
    """
    if spec is None:
        return ThreadPoolTaskRunner()
    if isinstance(spec, TaskRunner):
        return spec
    if isinstance(spec, type) and issubclass(spec, TaskRunner):
        return spec()
    if isinstance(spec, str):
        from sluice.plugins import get_registry

        return get_registry("task_runner").get(spec)()
    raise ConfigurationError(
        f"task_runner must be a TaskRunner, a TaskRunner class or a runner's slug (e.g. 'threads'), not {spec!r}"
    )
