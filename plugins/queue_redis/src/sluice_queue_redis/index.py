"""``RedisIndex``: the ready index and active counts in Redis, and the calls that change them.

It knows Redis and the record format (``scripts``), not the database: the backend reads runs from
the store and hands them over as ``QueuedRun`` observations.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from uuid import UUID

from sluice.queues import QueuedRun, QueueServiceUnavailable, WorkQueue
from sluice_queue_redis import scripts

logger = logging.getLogger("sluice.queue_redis")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


#: The version of a deleted run: newer than any state it had.
DELETED = "99999999999999999"
#: Ready runs read per queue by one claim: a claim looks that far past runs it cannot take (their
#: deployment or another queue of theirs is full) for ones it can.
FETCH_PER_QUEUE = 200
#: Messages on the wake channel.
WORK, CONFIG, RECONCILE = "work", "config", "reconcile"


def microseconds(moment: datetime | None) -> str:
    """A timestamp as whole microseconds since the epoch, as text ("0" for None)."""
    if moment is None:
        return "0"
    return str((moment - _EPOCH) // timedelta(microseconds=1))


def seconds(moment: datetime | None) -> float:
    """A timestamp as epoch seconds (-1 for None)."""
    return -1.0 if moment is None else moment.timestamp()


def observation(run_id: UUID, run: QueuedRun | None, stamp: str | None = None) -> dict[str, Any]:
    """What the index should hold for a run as the database has it (None: deleted)."""
    if run is None:
        return {"id": str(run_id), "s": "D", "v": DELETED, "d": "", "e": -1, "l": -1, "q": [], "stamp": stamp}
    state = "R" if run.is_claimable else "A" if run.is_active else "D"
    queues = list(dict.fromkeys([*([run.work_queue_name] if run.work_queue_name else []), *run.queues]))
    return {
        "id": str(run.id),
        "s": state,
        "v": microseconds(run.state_timestamp),
        "d": str(run.deployment_id) if run.deployment_id else "",
        "e": seconds(run.expected_start_time),
        "l": seconds(run.deadline),
        "q": queues,
        "stamp": stamp,
    }


def queue_config(queue: WorkQueue) -> dict[str, Any]:
    """A queue's settings as the claim script reads them."""
    limit = queue.concurrency_limit
    return {"paused": queue.is_paused, "limit": -1 if limit is None else limit, "filter": list(queue.filter or ())}


@dataclass(frozen=True)
class Taken:
    """What one claim took: the runs reserved (with the stamps of their records) and the queues it
    polled; ``unbuilt`` when the index has not been built from the database yet."""

    runs: list[tuple[UUID, str]]
    polled: list[str]
    unbuilt: bool = False


class RedisIndex:
    """The index of one Sluice database in one Redis server, under a key prefix."""

    def __init__(self, url: str, prefix: str, socket_timeout: float = 10.0) -> None:
        self.url = url
        self.prefix = prefix
        self.channel = f"{prefix}:wake"
        self._socket_timeout = socket_timeout
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The redis-py client (made on first use; it connects on its first command)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import redis

                    client = redis.Redis.from_url(
                        self.url,
                        socket_connect_timeout=min(2.0, self._socket_timeout),
                        socket_timeout=self._socket_timeout,
                        health_check_interval=30,
                    )
                    self._scripts = {
                        name: client.register_script(getattr(scripts, name))
                        for name in ("APPLY", "TAKE", "RELEASE", "SWEEP", "CLEAN_SET", "PRUNE", "CONFIGURE")
                    }
                    self._client = client
        return self._client

    def _run(self, name: str, *arguments: Any) -> Any:
        client = self.client
        try:
            return self._scripts[name](args=[self.prefix, *arguments], client=client)
        except Exception as exc:
            self._failed(exc)

    def _failed(self, error: Exception) -> NoReturn:
        """Raise ``QueueServiceUnavailable`` for a Redis that cannot be reached, else ``error`` itself."""
        from redis.exceptions import ConnectionError, TimeoutError

        if isinstance(error, ConnectionError | TimeoutError | OSError):
            raise unavailable(self.url, error) from error
        raise error

    # -- claims --------------------------------------------------------------------------------

    def take(self, names: Sequence[str], match: str | None, horizon: float, now: float, limit: int) -> Taken:
        """Reserve up to ``limit`` ready runs of the queues (see ``scripts.TAKE``)."""
        names_json = json.dumps(list(names))
        answer = self._run("TAKE", repr(horizon), repr(now), limit, "0", names_json, match or "", _fetch(limit))
        if _text(answer[0]) == "reconcile":
            return Taken([], [], unbuilt=True)
        values = [_text(item) for item in answer[2:]]
        runs = [(UUID(values[i]), values[i + 1]) for i in range(0, len(values), 2)]
        return Taken(runs, json.loads(_text(answer[1])))

    def look(self, names: Sequence[str], match: str | None, horizon: float, now: float) -> tuple[bool, float | None]:
        """Whether a claim would take a run now (True while the index is not built), else when the
        next ready run of the queues comes due (epoch seconds)."""
        answer = self._run("TAKE", repr(horizon), repr(now), 1, "1", json.dumps(list(names)), match or "", _fetch(1))
        if _text(answer[0]) == "reconcile":
            return True, None
        due = _text(answer[2])
        return _text(answer[1]) == "1", float(due) if due else None

    def release(self, taken: Sequence[tuple[UUID, str]]) -> int:
        """Put reserved runs back (see ``scripts.RELEASE``)."""
        if not taken:
            return 0
        return int(self._run("RELEASE", json.dumps([[str(run_id), stamp] for run_id, stamp in taken])))

    # -- keeping it up to date -----------------------------------------------------------------

    def apply(self, observations: Sequence[dict[str, Any]], mode: str = "observe", started: str = "0") -> int:
        """Write observations (see ``scripts.APPLY``), 500 per call."""
        changed = 0
        for offset in range(0, len(observations), 500):
            chunk = observations[offset : offset + 500]
            changed += int(self._run("APPLY", mode, json.dumps(chunk), started))
        return changed

    def configure(self, queues: Iterable[WorkQueue], deployment_limits: dict[UUID, int]) -> None:
        """Replace the queues' settings and the deployments' limits."""
        configs = {queue.name: queue_config(queue) for queue in queues}
        limits = {str(key): value for key, value in deployment_limits.items()}
        self._run("CONFIGURE", json.dumps(configs), json.dumps(limits))

    def now(self) -> str:
        """Redis's clock in µs, as text: what record stamps are compared with."""
        try:
            second, micro = self.client.time()
        except Exception as exc:
            self._failed(exc)
        return f"{second}{micro:06d}"

    def record_ids(self) -> Iterator[str]:
        """Every run id with a record."""
        try:
            for key, _ in self.client.hscan_iter(f"{self.prefix}:runs", count=1000):  # NOVALUES needs Redis 7.4
                yield _text(key)
        except Exception as exc:
            self._failed(exc)

    def sweep(self, run_ids: Sequence[str], started: str) -> int:
        """End records of runs not seen by a rebuild (see ``scripts.SWEEP``)."""
        swept = 0
        for offset in range(0, len(run_ids), 500):
            swept += int(self._run("SWEEP", json.dumps(list(run_ids[offset : offset + 500])), started))
        return swept

    def clean_sets(self) -> int:
        """Drop set members whose records disagree (see ``scripts.CLEAN_SET``)."""
        removed = 0
        for kind in ("ready", "aq", "ad"):
            head = f"{self.prefix}:{kind}:"
            try:
                keys = [_text(key) for key in self.client.scan_iter(match=_escape_glob(head) + "*", count=1000)]
            except Exception as exc:
                self._failed(exc)
            for key in keys:
                removed += int(self._run("CLEAN_SET", key, kind, key[len(head) :]))
        return removed

    def prune(self, older_than: timedelta) -> int:
        """Forget tombstones older than ``older_than``."""
        cutoff = int(self.now()) - older_than // timedelta(microseconds=1)
        pruned = 0
        while (count := int(self._run("PRUNE", str(cutoff)))) > 0:
            pruned += count
        return pruned

    def built_within(self, seconds: float) -> bool:
        """Whether the index was built from the database less than ``seconds`` ago."""
        try:
            built_at = _text(self.client.hget(f"{self.prefix}:meta", "built_at") or b"0")
        except Exception as exc:
            self._failed(exc)
        return int(self.now()) - int(built_at) < seconds * 1_000_000

    def is_built(self) -> bool:
        """Whether the index was built from the database (False after a flush or a restart)."""
        try:
            return _text(self.client.hget(f"{self.prefix}:meta", "ready") or b"") == "1"
        except Exception as exc:
            self._failed(exc)

    def mark_built(self) -> None:
        """Record that the index was built from the database."""
        try:
            self.client.hset(f"{self.prefix}:meta", mapping={"ready": "1", "built_at": self.now()})
        except Exception as exc:
            self._failed(exc)

    def try_lock(self, owner: str, seconds: float) -> bool:
        """Take the rebuild lock for ``seconds`` (one replica rebuilds at a time)."""
        try:
            return bool(self.client.set(f"{self.prefix}:rebuilding", owner, nx=True, px=int(seconds * 1000)))
        except Exception as exc:
            self._failed(exc)

    def unlock(self, owner: str) -> None:
        """Give the rebuild lock back if this owner still holds it."""
        try:
            key = f"{self.prefix}:rebuilding"
            if _text(self.client.get(key) or b"") == owner:
                self.client.delete(key)
        except Exception as exc:
            self._failed(exc)

    # -- waking --------------------------------------------------------------------------------

    def publish(self, message: str) -> None:
        """Tell every replica's listener (``WORK``, ``CONFIG`` or ``RECONCILE``, plus a sender tag)."""
        try:
            self.client.publish(self.channel, message)
        except Exception as exc:
            self._failed(exc)

    def close(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            self._client.close()


def unavailable(url: str, error: Exception) -> QueueServiceUnavailable:
    """The error a claim reports when Redis cannot be reached (no password in it)."""
    from urllib.parse import urlsplit

    place = urlsplit(url)
    where = f"{place.hostname}:{place.port or 6379}"
    reason = f"{type(error).__name__}: {error}"
    return QueueServiceUnavailable(f"the Redis queue index at {where} cannot be used now: {reason}")


def _fetch(limit: int) -> int:
    return limit + FETCH_PER_QUEUE


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _escape_glob(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)
