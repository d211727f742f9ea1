"""The spool (sluice/spool.py): entries on disk, in order, and their delivery with backoff."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path
from typing import Any

from sluice.backoff import Backoff
from sluice.errors import APIUnavailable, ObjectNotFound
from sluice.spool import Spool, SpoolSender


def test_entries_come_back_in_the_order_they_were_added_even_to_another_reader(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outbox")
    for number in range(30):
        spool.append({"n": number})
    later = Spool(tmp_path / "outbox")  # e.g. the agent that starts after this one died
    assert [later.read(name)["n"] for name in later.names()] == list(range(30))


def test_the_spool_is_private_and_nothing_is_written_before_the_first_entry(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outbox")
    assert len(spool) == 0 and not spool.folder.exists()
    name = spool.append({"secret": "parameters may be in log lines"})
    assert stat.S_IMODE(spool.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((spool.folder / name).stat().st_mode) == 0o600


def test_a_removed_entry_is_gone_and_removing_it_again_is_harmless(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outbox")
    first = spool.append({"n": 1})
    spool.append({"n": 2})
    spool.remove(first)
    spool.remove(first)
    assert [spool.read(name) for name in spool.names()] == [{"n": 2}]


def test_an_unreadable_entry_is_set_aside_instead_of_blocking_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outbox")
    spool.append({"n": 1})
    (spool.folder / "00000000000000000000-x.json").write_text("{torn")
    assert [spool.read(name) for name in spool.names()] == [None, {"n": 1}]
    assert spool.names() == [name for name in spool.names() if name.endswith(".json")]
    assert len(spool) == 1


def test_adopting_another_spool_moves_its_entries_in_with_their_order(tmp_path: Path) -> None:
    engine, agent = Spool(tmp_path / "engine"), Spool(tmp_path / "agent")
    engine.append({"from": "engine", "n": 1})
    engine.append({"from": "engine", "n": 2})
    agent.append({"from": "agent", "n": 3})
    assert agent.adopt(engine) == 2
    assert [agent.read(name)["n"] for name in agent.names()] == [1, 2, 3]
    assert not engine.folder.exists()


class FlakyAPI:
    """Takes entries after ``failures`` refused connections; remembers what it took."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[Any] = []
        self.delivered = threading.Event()

    def deliver(self, entry: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise APIUnavailable("cannot reach the Sluice API")
        if entry.get("refused"):
            raise ObjectNotFound("that run was deleted")
        self.received.append(entry["n"])


def test_the_sender_retries_until_delivered_and_keeps_the_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outbox")
    for number in range(3):
        spool.append({"n": number})
    api = FlakyAPI(failures=3)
    sender = SpoolSender(spool, api.deliver, Backoff(initial=0.01, maximum=0.05))
    sender.wake()
    assert sender.wait_empty(time.monotonic() + 30)
    assert api.received == [0, 1, 2]
    assert sender.last_error is None
    assert not spool.folder.exists()  # nothing left behind once everything was delivered


def test_an_entry_the_api_refuses_for_good_is_dropped_and_the_rest_still_delivered(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outbox")
    spool.append({"n": 0, "refused": True})
    spool.append({"n": 1})
    api = FlakyAPI(failures=0)
    sender = SpoolSender(spool, api.deliver, Backoff(initial=0.01))
    sender.wake()
    assert sender.wait_empty(time.monotonic() + 30)
    assert api.received == [1]


def test_a_stopped_sender_leaves_what_it_could_not_deliver_on_disk(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "outbox")
    spool.append({"n": 0})
    api = FlakyAPI(failures=10**9)
    sender = SpoolSender(spool, api.deliver, Backoff(initial=0.01, maximum=0.01))
    sender.wake()
    assert not sender.wait_empty(time.monotonic() + 0.2)
    sender.stop()
    assert [spool.read(name) for name in spool.names()] == [{"n": 0}]
    assert isinstance(sender.last_error, APIUnavailable)
