"""Logs of flow runs: ``get_run_logger()``, the console format, and batched shipping to the API.

Inside a flow run (or a task inside one), ``get_run_logger()`` returns a logger whose records go to
the console and to the run's logs on the API (a task's records carry its ``task_run_id``). Records
are batched: they are sent when a batch is full or old enough, and every run flushes what is left
when it ends; batches the API cannot take now are spooled and delivered later
(``sluice.reporting``). Nothing is configured at import; the handlers are attached the first time a
run logger is asked for.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sluice.context import get_flow_run_context, get_task_run_context
from sluice.errors import SluiceError

#: The parent of every run logger; its handlers ship records to the API and print them.
RUN_LOGGER_NAME = "sluice.flow_runs"
#: Records sent in one API call at most.
BATCH_SIZE = 100
#: A pending batch is sent by the next record logged after this many seconds.
BATCH_INTERVAL_SECONDS = 2.0

Sender = Callable[[list[dict[str, Any]]], None]


class MissingRunContextError(SluiceError, RuntimeError):
    """``get_run_logger()`` was called outside a flow run."""


def _send_with_client(records: list[dict[str, Any]]) -> None:
    from sluice.reporting import get_reporter

    get_reporter().ship_logs(records)


class LogShipper:
    """Collects run log records and sends them to the API in batches.

    A batch goes when it is full, or at the latest ``BATCH_INTERVAL_SECONDS`` after its first record
    (a daemon thread sends it, so ``run --watch`` sees quiet flows' logs too). Batches go through the
    process's reporter (``sluice.reporting``): while the API cannot be reached they are spooled to disk
    and delivered, in order, when it answers; each record carries a ``client_id``, so a batch sent
    again is stored once. Any other failure to send is reported once on stderr and does not fail the
    flow: logs are a record of the run, not part of it.
    """

    def __init__(self, send: Sender | None = None) -> None:
        self._send = send or _send_with_client
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._oldest: float | None = None
        self._warned = False
        self._flusher: threading.Thread | None = None

    def add(
        self,
        flow_run_id: UUID | str,
        level: int,
        name: str,
        message: str,
        created: float,
        task_run_id: UUID | str | None = None,
    ) -> None:
        """Queue one record (of a task run, when ``task_run_id`` is given); send the batch when it is
        full or old enough."""
        from sluice.schemas.logs import fit_log_message  # the server's own limits, so it never refuses a batch

        record = {
            "flow_run_id": str(flow_run_id),
            "level": level,
            "name": fit_log_message(name)[:500],
            "message": fit_log_message(message),
            "timestamp": datetime.fromtimestamp(created, UTC).isoformat(),
            "client_id": str(UUID(int=random.getrandbits(128), version=4)),  # os.urandom is slow under load
        }
        if task_run_id is not None:
            record["task_run_id"] = str(task_run_id)
        with self._lock:
            self._pending.append(record)
            if self._oldest is None:
                self._oldest = time.monotonic()
            due = len(self._pending) >= BATCH_SIZE
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_periodically, name="sluice-logs", daemon=True)
                self._flusher.start()
        if due:
            self.flush()

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(BATCH_INTERVAL_SECONDS / 4)
            with self._lock:
                due = self._oldest is not None and time.monotonic() - self._oldest >= BATCH_INTERVAL_SECONDS
            if due:
                self.flush()

    def flush(self) -> None:
        """Send every queued record now (in the order they were logged)."""
        from sluice.schemas.logs import log_batches

        with self._send_lock:
            with self._lock:
                batch, self._pending, self._oldest = self._pending, [], None
            for part in log_batches(batch, BATCH_SIZE):
                try:
                    self._send(part)
                except Exception as exc:  # never let log shipping fail a run
                    if not self._warned:
                        self._warned = True
                        print(f"sluice: could not ship flow run logs to the API: {exc}", file=sys.stderr)


_shipper: LogShipper | None = None
_setup_lock = threading.Lock()


def get_log_shipper() -> LogShipper:
    """The process-wide log shipper."""
    global _shipper
    if _shipper is None:
        with _setup_lock:
            if _shipper is None:
                _shipper = LogShipper()
    return _shipper


class APILogHandler(logging.Handler):
    """Sends records that carry a ``flow_run_id`` to the API, through the log shipper.

    Inside a task run on a remote worker (no engine in the process), records are kept in the task
    run's context instead: they go back to the engine with the attempt's outcome.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record for its flow run (records without a run are ignored)."""
        flow_run_id = getattr(record, "flow_run_id", None)
        if flow_run_id is None:
            return
        task_run_id = getattr(record, "task_run_id", None)
        try:
            message = self.format(record)
            task_context = get_task_run_context()
            if task_context is not None and task_context.captured_logs is not None:
                task_context.captured_logs.append(
                    {
                        "flow_run_id": str(flow_run_id),
                        "task_run_id": None if task_run_id is None else str(task_run_id),
                        "level": record.levelno,
                        "name": record.name,
                        "message": message,
                        "created": record.created,
                    }
                )
                return
            get_log_shipper().add(flow_run_id, record.levelno, record.name, message, record.created, task_run_id)
        except Exception:
            self.handleError(record)


def ship_captured_logs(records: list[dict[str, Any]]) -> None:
    """Ship records a task run logged on a remote worker (kept by ``APILogHandler`` there)."""
    shipper = get_log_shipper()
    for record in records:
        shipper.add(
            record["flow_run_id"],
            record["level"],
            record["name"],
            record["message"],
            record["created"],
            record.get("task_run_id"),
        )


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        run = getattr(record, "flow_run_name", None)
        task_run = getattr(record, "task_run_name", None)
        where = f"Task run {task_run!r} - " if task_run else f"Flow run {run!r} - " if run else ""
        text = f"{stamp} | {record.levelname:<7} | {where}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _setup_run_logging() -> logging.Logger:
    logger = logging.getLogger(RUN_LOGGER_NAME)
    if not getattr(logger, "_sluice_configured", False):
        with _setup_lock:
            if not getattr(logger, "_sluice_configured", False):
                logger.setLevel(logging.DEBUG)
                logger.propagate = False
                api_handler = APILogHandler(logging.DEBUG)
                api_handler.setFormatter(logging.Formatter("%(message)s"))
                console = logging.StreamHandler(sys.stderr)
                console.setLevel(logging.INFO)
                console.setFormatter(_ConsoleFormatter())
                logger.addHandler(api_handler)
                logger.addHandler(console)
                logger._sluice_configured = True  # type: ignore[attr-defined]
    return logger


def run_logger_for(
    flow_run_id: UUID | str,
    flow_run_name: str,
    flow_name: str,
    task_run_id: UUID | str | None = None,
    task_run_name: str | None = None,
) -> logging.LoggerAdapter[Any]:
    """A logger whose records go to the console and to the logs of the flow run ``flow_run_id``
    (marked as the task run's when ``task_run_id`` is given)."""
    logger = _setup_run_logging()
    extra: dict[str, Any] = {"flow_run_id": str(flow_run_id), "flow_run_name": flow_run_name, "flow_name": flow_name}
    if task_run_id is not None:
        extra["task_run_id"] = str(task_run_id)
        extra["task_run_name"] = task_run_name
    return logging.LoggerAdapter(logger, extra)


def get_run_logger() -> logging.LoggerAdapter[Any]:
    """The logger of the current flow run: to the console and to the run's logs on the API.

    Inside a task run, records carry its ``task_run_id`` (on a remote worker too: they are sent
    back with the task's outcome). Raises ``MissingRunContextError`` outside a flow run (call it
    inside a ``@flow`` or a ``@task``).
    """
    task_context = get_task_run_context()
    if task_context is not None:
        return run_logger_for(
            task_context.flow_run_id,
            task_context.flow_run_name,
            task_context.flow_name,
            task_context.task_run_id,
            task_context.task_run_name,
        )
    context = get_flow_run_context()
    if context is None:
        raise MissingRunContextError(
            "get_run_logger() was called outside a flow run: call it inside a function decorated with "
            "@flow (or a @task called by one)"
        )
    return run_logger_for(context.flow_run_id, context.flow_run_name, context.flow.name)


def flush_logs() -> None:
    """Send every queued run log record to the API now."""
    if _shipper is not None:
        _shipper.flush()
