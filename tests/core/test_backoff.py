"""The backoff helper (sluice/backoff.py): delays, retries, deadlines and stopping."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from sluice.backoff import Backoff, GaveUp, retry
from sluice.errors import APIUnavailable, ConfigurationError


def test_delays_double_up_to_the_maximum_within_the_jitter() -> None:
    delays = list(itertools.islice(Backoff(initial=0.5, maximum=4.0, jitter=0.1).delays(), 6))
    for delay, expected in zip(delays, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0], strict=True):
        assert expected * 0.9 <= delay <= expected * 1.1


def test_retry_returns_once_the_call_succeeds_and_reports_each_retry() -> None:
    failures = iter([APIUnavailable("down"), APIUnavailable("still down")])
    seen: list[str] = []

    def call() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "answered"

    result = retry(call, APIUnavailable, Backoff(initial=0.001), on_retry=lambda exc, delay: seen.append(str(exc)))
    assert result == "answered"
    assert seen == ["down", "still down"]


def test_errors_not_worth_retrying_propagate_at_once() -> None:
    calls = []

    def call() -> None:
        calls.append(1)
        raise ConfigurationError("bad request")

    with pytest.raises(ConfigurationError, match="bad request"):
        retry(call, APIUnavailable, Backoff(initial=0.001))
    assert len(calls) == 1


def test_retry_gives_up_at_the_deadline_with_the_last_error() -> None:
    def call() -> None:
        raise APIUnavailable("the API is down")

    with pytest.raises(GaveUp, match="the API is down") as caught:
        retry(call, APIUnavailable, Backoff(initial=0.01), deadline=time.monotonic() + 0.05)
    assert isinstance(caught.value.__cause__, APIUnavailable)


def test_a_stop_event_ends_the_wait_between_attempts() -> None:
    stop = threading.Event()
    calls = []

    def call() -> None:
        calls.append(1)
        raise APIUnavailable("down")

    # the first delay is an hour: only the stop event can end the wait
    with pytest.raises(GaveUp):
        retry(call, APIUnavailable, Backoff(initial=3600), stop=stop, on_retry=lambda exc, delay: stop.set())
    assert len(calls) == 1
