"""Enforcing a flow's ``timeout_seconds`` around synchronous code.

In the main thread a ``SIGALRM`` timer interrupts the body wherever it is, even in ``time.sleep``.
Elsewhere (a flow called from a worker thread) the ``TimeoutError`` is raised asynchronously in the
thread, which takes effect at its next Python instruction.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sluice.errors import FlowTimeoutError


class _AsyncTimeout(FlowTimeoutError):
    """Raised asynchronously in a worker thread (such exceptions cannot carry a message)."""


@contextmanager
def timeout_after(seconds: float | None, what: str = "Flow run") -> Iterator[None]:
    """Raise ``FlowTimeoutError`` inside the block if it lasts more than ``seconds`` (None: no limit)."""
    if not seconds or seconds <= 0:
        yield
        return
    use_signal = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    message = f"{what} exceeded its timeout of {seconds:g} seconds"
    if use_signal:
        with _signal_timeout(seconds, message):
            yield
        return
    try:
        with _thread_timeout(seconds):
            yield
    except _AsyncTimeout:
        raise FlowTimeoutError(message) from None


@contextmanager
def _signal_timeout(seconds: float, message: str) -> Iterator[None]:
    previous_delay, _ = signal.getitimer(signal.ITIMER_REAL)
    if previous_delay and previous_delay <= seconds:
        yield  # an enclosing timeout fires first; it is the one that matters
        return
    started = time.monotonic()

    def on_alarm(signum: int, frame: Any) -> None:
        raise FlowTimeoutError(message)

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            # give the enclosing timeout back what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(previous_delay - (time.monotonic() - started), 0.001))


@contextmanager
def _thread_timeout(seconds: float) -> Iterator[None]:
    thread_id = threading.get_ident()
    done = threading.Event()

    def interrupt() -> None:
        import ctypes

        if not done.is_set():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(_AsyncTimeout))

    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        done.set()
        timer.cancel()
