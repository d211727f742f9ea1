"""The budget of one schedule-date computation: how many candidate times it may scan, and for how long.

A schedule's next times usually take microseconds to find, but a hostile or careless spec can make
them take hours (``FREQ=SECONDLY;COUNT=1000000000`` counts a billion seconds from DTSTART) or
forever (a rule no date satisfies, searched up to the year 9999). Every computation therefore runs
under a ``ScheduleBudget``:

- **scanned**: code that walks candidate times calls ``note_scanned()`` for each one
  (``wall_clock_dates`` does it for every schedule that uses it); past ``max_scanned`` it raises
  ``ScheduleBudgetExceeded``;
- **wall time**: past ``max_seconds`` the computation is stopped, even inside a library that never
  returns to Sluice's code between two candidates (dateutil searching a rule that never fires). A
  watchdog thread raises the error asynchronously in the computing thread (CPython's
  ``PyThreadState_SetAsyncExc``); the cooperative check in ``note_scanned`` usually gets there first.

Each ``Schedule.get_dates`` call is a computation of its own, unless it runs inside one (code that
makes several calls can share one budget with ``Computation().run``). ``schedule_budget(budget)``
sets the budget of the computations started inside it. Nothing here starts a thread or reads a
setting until a computation needs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from sluice.errors import ConfigurationError

T = TypeVar("T")

#: Defaults of ``SLUICE_SCHEDULE_MAX_SCANNED`` / ``SLUICE_SCHEDULE_MAX_SECONDS``.
DEFAULT_MAX_SCANNED = 100_000
DEFAULT_MAX_SECONDS = 1.0

# The cooperative wall-time check reads the clock once every this many scanned candidates.
_CLOCK_EVERY = 1024
# The watchdog keeps checking this often for this long after its last computation ends, so that a
# burst of short computations does not wake it once per computation.
_WATCHDOG_TICK = 0.05
_WATCHDOG_LINGER = 5.0


@dataclass(frozen=True)
class ScheduleBudget:
    """The most one schedule-date computation may scan and take.

    :param max_scanned: candidate times it may look at (``SLUICE_SCHEDULE_MAX_SCANNED``).
    :param max_seconds: wall-clock seconds it may run (``SLUICE_SCHEDULE_MAX_SECONDS``).
    """

    max_scanned: int = DEFAULT_MAX_SCANNED
    max_seconds: float = DEFAULT_MAX_SECONDS

    @classmethod
    def from_settings(cls, settings: Any) -> ScheduleBudget:
        """The budget named by a ``sluice.settings.Settings``."""
        return cls(max_scanned=settings.schedule_max_scanned, max_seconds=settings.schedule_max_seconds)


class ScheduleBudgetExceeded(ConfigurationError):
    """A schedule's dates could not be computed within the budget.

    ``reason`` says which limit was reached; ``subject`` (the schedule) and ``advice`` (how to make
    it cheaper) are added by ``Schedule.get_dates`` when the error passes through it.
    """

    def __init__(self, reason: str, subject: str | None = None, advice: str | None = None) -> None:
        self.reason, self.subject, self.advice = reason, subject, advice
        if subject is None:
            message = f"a schedule's dates could not be computed within the schedule budget: {reason}"
        else:
            message = f"{subject} is too costly to compute: {reason}"
        super().__init__(f"{message}; {advice}" if advice else message)

    def about(self, subject: str, advice: str) -> ScheduleBudgetExceeded:
        """The same error naming the schedule and how to fix it (unchanged when it already does)."""
        if self.subject is not None:
            return self
        return ScheduleBudgetExceeded(self.reason, subject, advice)


class ScheduleComputationStopped(ScheduleBudgetExceeded):
    """A computation stopped from outside (``stop_schedule_computations``), not for its own cost."""

    def __init__(self, reason: str) -> None:
        self.reason, self.subject, self.advice = reason, None, None
        ConfigurationError.__init__(self, f"computing a schedule's dates was stopped: {reason}")

    def about(self, subject: str, advice: str) -> ScheduleBudgetExceeded:
        """Unchanged: the schedule is not to blame."""
        return self


class _Interrupted(BaseException):
    """Raised asynchronously in a computation that ran past its deadline.

    A ``BaseException``, so that no ``except Exception`` (nor pydantic, which turns a validator's
    ``ValueError`` into a validation error) on the way catches it before the computation's guard,
    which turns it into a ``ScheduleBudgetExceeded``.
    """


class _Meter:
    """The running account of one computation: what it scanned and when its time is up."""

    __slots__ = ("budget", "deadline", "fired", "interrupt_at", "next_clock_check", "scanned", "stopped", "thread_id")

    def __init__(self, budget: ScheduleBudget) -> None:
        self.budget = budget
        self.scanned = 0
        self.deadline = time.monotonic() + budget.max_seconds
        # The cooperative check (``scan``) stops most computations at the deadline; the watchdog
        # interrupts only one that has not looked at the clock for a while past it.
        self.interrupt_at = self.deadline + max(_WATCHDOG_TICK, budget.max_seconds / 10)
        self.next_clock_check = _CLOCK_EVERY
        self.thread_id = threading.get_ident()
        self.fired = False  # the watchdog raised ``_Interrupted`` in this computation's thread
        self.stopped: str | None = None  # why it was stopped from outside (a server shutting down)

    def scan(self, count: int) -> None:
        """Count ``count`` candidates; raise once past the budget."""
        self.scanned += count
        if self.scanned > self.budget.max_scanned:
            raise ScheduleBudgetExceeded(
                f"more than {self.budget.max_scanned:,} candidate times scanned "
                "(the limit is SLUICE_SCHEDULE_MAX_SCANNED)"
            )
        if self.scanned >= self.next_clock_check:
            self.next_clock_check = self.scanned + _CLOCK_EVERY
            if self.stopped is not None or time.monotonic() > self.deadline:
                raise self.exceeded()

    def exceeded(self) -> ScheduleBudgetExceeded:
        """The error for a computation past its time (or stopped from outside)."""
        if self.stopped is not None:
            return ScheduleComputationStopped(self.stopped)
        return ScheduleBudgetExceeded(
            f"more than {self.budget.max_seconds:g} s of computing (the limit is SLUICE_SCHEDULE_MAX_SECONDS)"
        )


# The computation running in each thread. Per thread rather than a context variable: the watchdog
# interrupts a thread, and a worker thread given a copy of a context must not join its parent's.
_running = threading.local()
_budget: ContextVar[ScheduleBudget | None] = ContextVar("sluice_schedule_budget", default=None)
_from_environment: tuple[tuple[str | None, str | None], ScheduleBudget] | None = None


def current_budget() -> ScheduleBudget:
    """The budget a computation started now gets: the innermost ``schedule_budget``'s, else the
    environment's settings (``SLUICE_SCHEDULE_MAX_SCANNED``, ``SLUICE_SCHEDULE_MAX_SECONDS``)."""
    budget = _budget.get()
    return budget if budget is not None else _environment_budget()


def _environment_budget() -> ScheduleBudget:
    """The budget of the environment's settings, read again only when one of its variables changes."""
    import os

    global _from_environment
    key = (os.environ.get("SLUICE_SCHEDULE_MAX_SCANNED"), os.environ.get("SLUICE_SCHEDULE_MAX_SECONDS"))
    if _from_environment is None or _from_environment[0] != key:
        from sluice.settings import get_settings

        _from_environment = (key, ScheduleBudget.from_settings(get_settings()))
    return _from_environment[1]


def note_scanned(count: int = 1) -> None:
    """Count ``count`` candidate times against the running computation's budget.

    Call it from any loop that walks candidate times outside ``wall_clock_dates`` (which counts its
    own). Raises ``ScheduleBudgetExceeded`` past the budget; does nothing outside a computation.
    """
    meter: _Meter | None = getattr(_running, "meter", None)
    if meter is not None:
        meter.scan(count)


def scanner() -> Callable[[int], None]:
    """``note_scanned`` bound to the running computation, for tight loops (a no-op outside one)."""
    meter: _Meter | None = getattr(_running, "meter", None)
    return meter.scan if meter is not None else _ignore_scanned


def _ignore_scanned(count: int) -> None:
    """What ``scanner`` gives outside a computation."""


class Computation:
    """The guard of one computation; ``run(function, ...)`` calls a function under it.

    The outermost guard in a thread opens a meter and puts it under the watchdog; a guard opened
    inside a running computation joins it. Either turns the watchdog's ``_Interrupted`` into
    ``ScheduleBudgetExceeded``.
    """

    __slots__ = ("_meter", "_owned")

    def __init__(self) -> None:
        self._meter: _Meter | None = None
        self._owned = False

    @property
    def scanned(self) -> int:
        """The candidates counted by the computation this guard ran in (so far, or in all)."""
        return self._meter.scanned if self._meter is not None else 0

    def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` as (part of) one computation."""
        try:
            self._open()
            try:
                return function(*args, **kwargs)
            finally:
                self._close()
        except _Interrupted:
            # Raised in the body, or in ``_close`` before it took the meter off the watchdog (which
            # fires once per meter, so closing again cannot be interrupted).
            self._close()
            meter = self._meter
            raise (meter.exceeded() if meter is not None else ScheduleBudgetExceeded("stopped")) from None

    def _open(self) -> None:
        """Join the thread's running computation, or open one (watched first: an interrupt can only
        come once it is, and a failure to watch leaves nothing behind)."""
        meter: _Meter | None = getattr(_running, "meter", None)
        if meter is None:
            meter = _Meter(current_budget())
            self._meter = meter
            _watchdog.watch(meter)
            self._owned = True
            _running.meter = meter
        self._meter = meter

    def _close(self) -> None:
        """End the computation if this guard opened it (idempotent)."""
        while self._owned:
            try:
                _running.meter = None
                if self._meter is not None:
                    _watchdog.unwatch(self._meter)
                self._owned = False
            except _Interrupted:
                continue


@contextmanager
def schedule_budget(budget: ScheduleBudget | None = None) -> Iterator[None]:
    """Set the budget of the computations started in the block (including those of worker threads
    given a copy of this context); ``None`` keeps the current one.

    Each ``get_dates`` call is one computation; to give several calls one shared budget, run them
    through ``Computation().run``.
    """
    token = _budget.set(budget) if budget is not None else None
    try:
        yield
    finally:
        if token is not None:
            _budget.reset(token)


def stop_schedule_computations(reason: str) -> int:
    """Stop every computation running now, in every thread, with ``ScheduleBudgetExceeded(reason)``.

    For a server that is shutting down: a request computing a costly preview answers at once instead
    of holding the shutdown up. Returns how many computations were stopped.
    """
    return _watchdog.stop_all(reason)


def _raise_in_thread(thread_id: int) -> None:
    """Raise ``_Interrupted`` in the thread ``thread_id`` at its next bytecode (CPython only; elsewhere
    the cooperative checks alone apply)."""
    import ctypes

    set_async_exc = getattr(ctypes.pythonapi, "PyThreadState_SetAsyncExc", None)
    if set_async_exc is not None:
        set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object(_Interrupted))


def _clear_in_thread(thread_id: int) -> None:
    """Drop an ``_Interrupted`` raised in ``thread_id`` that has not been delivered yet."""
    import ctypes

    set_async_exc = getattr(ctypes.pythonapi, "PyThreadState_SetAsyncExc", None)
    if set_async_exc is not None:
        set_async_exc(ctypes.c_ulong(thread_id), None)


class _Watchdog:
    """One daemon thread, started on first need, that interrupts computations past their time.

    Watching, unwatching and firing all happen under ``_lock``, and a meter is fired at most once
    and then dropped: once ``unwatch`` returns, nothing can be raised in that computation's thread
    any more (an interrupt fired but not yet delivered is cleared).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._meters: set[_Meter] = set()
        self._thread: threading.Thread | None = None
        self._idle = False  # waiting with no timeout: a new meter must wake it

    def watch(self, meter: _Meter) -> None:
        with self._lock:
            self._meters.add(meter)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sluice-schedule-watchdog", daemon=True)
                self._thread.start()
            elif self._idle:
                self._idle = False
                self._wake.notify()

    def unwatch(self, meter: _Meter) -> None:
        with self._lock:
            self._meters.discard(meter)
            if meter.fired:
                _clear_in_thread(meter.thread_id)

    def stop_all(self, reason: str) -> int:
        with self._lock:
            meters = list(self._meters)
            for meter in meters:
                meter.stopped = reason
                self._fire(meter)
            return len(meters)

    def _fire(self, meter: _Meter) -> None:
        meter.fired = True
        self._meters.discard(meter)
        _raise_in_thread(meter.thread_id)

    def _run(self) -> None:
        with self._lock:
            last_busy = time.monotonic()
            while True:
                now = time.monotonic()
                for meter in [meter for meter in self._meters if now > meter.interrupt_at]:
                    self._fire(meter)
                if self._meters:
                    last_busy = now
                if now - last_busy < _WATCHDOG_LINGER:
                    self._wake.wait(_WATCHDOG_TICK)
                else:
                    self._idle = True
                    self._wake.wait()
                    self._idle = False


_watchdog = _Watchdog()
