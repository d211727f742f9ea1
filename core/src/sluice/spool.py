"""A spool: what a process must tell the API and could not yet, kept on local disk in order.

A ``Spool`` is a folder with one JSON file per entry, written whole (a temporary file, fsync,
rename) and named so that names sort in the order entries were added, across processes too. A
``SpoolSender`` sends a spool's entries, oldest first, from a daemon thread, retrying with backoff
while the API cannot be reached; an entry leaves the spool only once it was delivered.

The engine spools its states and log batches here when the API does not answer, and the agent the
exits it observes; both deliver them when the API is back. Nothing is written while the API answers.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sluice.backoff import Backoff, GaveUp, retry
from sluice.errors import APIUnavailable

logger = logging.getLogger("sluice.spool")

Entry = dict[str, Any]

_counter = itertools.count()
_process_tag = uuid.uuid4().hex[:8]


class Spool:
    """An ordered, durable outbox of JSON entries in ``folder`` (created, private, on the first entry)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def append(self, entry: Entry) -> str:
        """Write ``entry`` to disk (fsynced) after every entry already there; returns its name."""
        name = f"{time.time_ns():020d}-{next(_counter):08d}-{_process_tag}.json"
        temporary = self.folder / f".{name}.tmp"
        data = json.dumps(entry, separators=(",", ":")).encode()
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileNotFoundError:  # the first entry (or a sender just removed the emptied folder)
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, data)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, self.folder / name)
        _fsync_folder(self.folder)
        return name

    def names(self) -> list[str]:
        """The names of the entries waiting, oldest first."""
        try:
            return sorted(name for name in os.listdir(self.folder) if name.endswith(".json"))
        except FileNotFoundError:
            return []

    def read(self, name: str) -> Entry | None:
        """The entry ``name``; None when it is gone (delivered by another process) or unreadable."""
        try:
            return json.loads((self.folder / name).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # never written by us: set it aside rather than block the rest
            logger.error("spool %s: cannot read %s (%s); moved aside as %s.bad", self.folder, name, exc, name)
            os.replace(self.folder / name, self.folder / f"{name}.bad")
            return None

    def remove(self, name: str) -> None:
        """Forget the entry ``name`` (delivered)."""
        try:
            os.unlink(self.folder / name)
        except FileNotFoundError:
            pass

    def __len__(self) -> int:
        return len(self.names())

    def adopt(self, other: Spool) -> int:
        """Move every entry of ``other`` into this spool, keeping their names (so their order); returns how many."""
        names = other.names()
        if not names:
            return 0
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in names:
            os.replace(other.folder / name, self.folder / name)
        _fsync_folder(self.folder)
        other.remove_folder()
        return len(names)

    def remove_folder(self) -> None:
        """Remove the folder if no entry is left in it."""
        try:
            os.rmdir(self.folder)
        except OSError:
            pass


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


class SpoolSender:
    """Delivers a spool's entries, oldest first, in a daemon thread.

    ``deliver(entry)`` sends one entry: it returns once the API has it, raises ``APIUnavailable`` to
    be called again later (with backoff), and any other error drops the entry (it can never succeed:
    the message is logged). ``wake()`` starts the thread, or makes a waiting one try again now.
    """

    def __init__(
        self, spool: Spool, deliver: Callable[[Entry], None], backoff: Backoff | None = None, name: str = "sluice-spool"
    ) -> None:
        self.spool = spool
        self._deliver = deliver
        self._backoff = backoff or Backoff()
        self._name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._running = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._emptied = threading.Condition()
        self.last_error: BaseException | None = None

    def wake(self) -> None:
        """Send what the spool holds now: start the thread if it is not running, else retry at once."""
        with self._lock:
            if self._running:
                self._wake.set()
                return
            self._running = True
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop sending (entries left stay on disk) and wait up to ``timeout`` for the thread."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wait_empty(self, deadline: float | None = None) -> bool:
        """Wait until the spool is empty and the thread done (True) or ``deadline`` (``time.monotonic()``)
        passed (False)."""
        with self._emptied:
            while self._running or len(self.spool):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._emptied.wait(0.5 if left is None else min(left, 0.5))
        return True

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                names = self.spool.names()
                if not names and self._finished():
                    return
                for name in names:
                    if self._stop.is_set():
                        return
                    entry = self.spool.read(name)
                    if entry is not None and not self._send(entry):
                        return
                    self.spool.remove(name)
        finally:
            with self._lock:
                self._running = False
            with self._emptied:
                self._emptied.notify_all()

    def _finished(self) -> bool:
        """True when the spool is empty for good: nothing was added while the thread was ending."""
        with self._lock:
            if self.spool.names():
                return False
            self._running = False  # a wake() from now on starts a new thread
            self.spool.remove_folder()
            return True

    def _send(self, entry: Entry) -> bool:
        """Deliver one entry, retrying while the API cannot be reached; False when stopped first."""

        def note(exc: BaseException, delay: float) -> None:
            self.last_error = exc

        while True:
            try:
                retry(lambda: self._deliver(entry), APIUnavailable, self._backoff, stop=self._wake, on_retry=note)
            except GaveUp:  # woken: to stop, or to try again now
                if self._stop.is_set():
                    return False
                self._wake.clear()
                continue
            except Exception as exc:  # can never succeed (e.g. the run was deleted): do not block the rest
                logger.error("dropping a report the API refused: %s", exc)
            self.last_error = None
            return True
