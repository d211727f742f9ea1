"""Retrying through outages: one exponential backoff with jitter, for every loop that waits on the API.

``Backoff`` yields the delays (0.5 s, 1 s, 2 s… up to 10 s, each ±10 %); ``retry`` calls a function
until it stops raising the errors worth retrying, sleeping those delays on an ``Event`` so that a
stopping process wakes up at once, and gives up at a deadline. The agent's loops, the engine's start
and the delivery of spooled reports all use it.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential delays: ``initial``, then times ``factor`` each attempt, at most ``maximum``, ± ``jitter``.

    The jitter (a fraction of each delay) keeps many agents and engines that lost the same server
    from all calling it again in the same instant when it comes back.
    """

    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.1

    def delays(self) -> Iterator[float]:
        """The delay before each retry, forever."""
        delay = self.initial
        while True:
            spread = delay * self.jitter
            yield max(0.0, delay + random.uniform(-spread, spread))
            delay = min(delay * self.factor, self.maximum)


class GaveUp(Exception):
    """``retry`` stopped before the call succeeded (deadline passed, or stop set); ``__cause__`` is the last error."""


def retry(
    call: Callable[[], T],
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    backoff: Backoff | None = None,
    deadline: float | None = None,
    stop: threading.Event | None = None,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> T:
    """Call ``call`` until it returns, retrying after the errors ``retry_on`` with backoff.

    :param deadline: a ``time.monotonic()`` value; past it the last error is raised as ``GaveUp``.
    :param stop: when set (a process stopping), the wait ends at once and ``GaveUp`` is raised.
    :param on_retry: called with the error and the delay before each retry (to say so in a log).
    :returns: what ``call`` returned. Errors not in ``retry_on`` propagate unchanged.
    """
    delays = (backoff or Backoff()).delays()
    stop = stop or threading.Event()
    while True:
        try:
            return call()
        except retry_on as exc:
            delay = next(delays)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GaveUp(str(exc)) from exc
                delay = min(delay, left)
            if on_retry is not None:
                on_retry(exc, delay)
            if stop.wait(delay):
                raise GaveUp(str(exc)) from exc
