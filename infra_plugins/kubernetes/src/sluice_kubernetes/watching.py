"""Watching a Job's pod and following its log, with deadlines, over the official client."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

#: A watch is re-opened at least this often, so a silently dropped connection costs little.
_MAX_WATCH_SECONDS = 60


def pods_of_job(pod: dict[str, Any], job_name: str) -> bool:
    """True if ``pod`` (a raw pod dict) belongs to the Job ``job_name``."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return job_name in (labels.get("job-name"), labels.get("batch.kubernetes.io/job-name"))


def watch_job_pod(
    core: Any,
    namespace: str,
    job_name: str,
    done: Callable[[str, dict[str, Any]], bool],
    timeout: float | None,
) -> dict[str, Any] | None:
    """Watch the pods of ``job_name`` until ``done(event_type, pod)``; return that pod, or None on timeout.

    ``core`` is a ``CoreV1Api``. The label selector is checked again on our side, so a server that
    ignores it cannot mislead us.
    """
    import urllib3
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = _MAX_WATCH_SECONDS if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            return None
        seconds = max(1, math.ceil(min(remaining, _MAX_WATCH_SECONDS)))
        watcher = watch.Watch()
        try:
            for event in watcher.stream(
                core.list_namespaced_pod,
                namespace,
                label_selector=f"job-name={job_name}",
                timeout_seconds=seconds,
                _request_timeout=seconds + 1,
                deserialize=False,
            ):
                pod = event.get("object") or {}
                if pods_of_job(pod, job_name) and done(str(event.get("type")), pod):
                    watcher.stop()
                    return pod
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            pass  # the watch ran out of time: open a new one while the deadline allows
        except ApiException as exc:
            if exc.status != 410:
                raise
            # 410 Gone: the watch expired. A new one starts from the current state, so nothing is lost.


def follow_log(
    core: Any, namespace: str, pod_name: str, container: str | None, timeout: float | None = None
) -> Iterator[str]:
    """The lines of a pod's log as they are written, until the container ends.

    With ``timeout`` the whole read is bounded: past it, urllib3 raises a timeout error.
    """
    response = core.read_namespaced_pod_log(
        pod_name, namespace, container=container, follow=True, _preload_content=False, _request_timeout=timeout
    )
    pending = b""
    try:
        for chunk in response.stream(4096):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")
    finally:
        response.release_conn()


def container_exit_code(pod: dict[str, Any], container: str) -> int | None:
    """The exit code of ``container`` in a raw pod dict, once it has terminated."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if status.get("name") == container or len(statuses) == 1:
            terminated = (status.get("state") or {}).get("terminated")
            if terminated is not None:
                return int(terminated.get("exitCode", -1))
    return None


def waiting_reason(pod: dict[str, Any]) -> str | None:
    """Why a pending pod's containers wait (``ErrImagePull``, ``ImagePullBackOff``…), if they do."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            return f"{waiting.get('reason')}: {waiting.get('message', '')}".rstrip(": ")
    return None
