"""A Kubernetes API emulator (``kmock``) on loopback, in a thread, for the kubernetes-job tests.

No real API server can run on our machines, so there is no scheduler, no Job controller and no
kubelet: the tests play those parts themselves through the same HTTP API (create the Job's pod, set
its phase, delete it), and serve the pod's log with a canned reaction.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import kmock
from kmock import Server


class Emulator(kmock.KubernetesEmulator):
    """The emulator, plus what the API server does with ``metadata.generateName``, and gap-free watches."""

    async def _handle(self, request: kmock.Request) -> Any:
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            metadata = request.data.setdefault("metadata", {})
            if not metadata.get("name") and metadata.get("generateName"):
                self.generated = getattr(self, "generated", 0) + 1
                metadata["name"] = f"{metadata['generateName']}{self.generated:05d}"
        return await super()._handle(request)

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        """A watch that sees every change after its initial listing, as a real API server's does.

        kmock's own watch lists the objects, releases its lock and only then starts reading the event
        bus, so a pod created or patched in between is never reported and the watcher waits for a
        change that already happened. Here the bus position is taken under the same lock as the
        listing, so nothing falls between the two.
        """
        yield b""  # send the headers now, as kmock does, so the client sees the stream open
        bus = self._buses[request.resource]
        async with self._lock:
            marker = await bus.mark()
            listing = [
                obj.raw
                for (resource, _, _), obj in self.objects.items()
                if resource == request.resource and not obj.deleted and _watched(request, obj.raw)
            ]
        try:
            for raw in listing:
                yield {"type": "ADDED", "object": raw}
            async for event in bus.stream(since=marker):
                if _watched(request, event.get("object") or {}):
                    yield event
        finally:
            await bus.unmark(marker)


def _watched(request: kmock.Request, raw: dict[str, Any]) -> bool:
    """True if the object ``raw`` is one the watch ``request`` asks for (its resource is implied)."""
    metadata = raw.get("metadata") or {}
    namespace_ok = request.namespace is None or metadata.get("namespace") == request.namespace
    return namespace_ok and (request.name is None or metadata.get("name") == request.name)


class EmulatedCluster:
    """A running emulator: its URL, a kubeconfig dict for it, and its in-memory objects."""

    def __init__(self, emulator: Emulator, url: str) -> None:
        self.emulator = emulator
        self.url = url.rstrip("/")

    def kubeconfig(self) -> dict[str, Any]:
        """A kubeconfig whose current context points at the emulator."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "not-checked"}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "tester"}}],
            "current-context": "kmock",
        }

    def serve_log(self, namespace: str, pod: str, text: bytes) -> None:
        """Answer the pod's log requests (follow or not) with ``text``."""
        self.emulator[f"get /api/v1/namespaces/{namespace}/pods/{pod}/log"] << text

    def live_objects(self, plural: str) -> list[dict[str, Any]]:
        """The stored objects of one resource (``jobs``, ``pods``) that are not deleted."""
        return [
            obj.raw
            for (resource, _, _), obj in self.emulator.objects.items()
            if resource.plural == plural and not obj.deleted
        ]

    def requests_made(self) -> int:
        """How many requests the emulator has answered."""
        return len(list(self.emulator))


@contextmanager
def emulated_cluster() -> Iterator[EmulatedCluster]:
    """Run the emulator on 127.0.0.1 (a free port) in a thread of its own until the block exits."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        async with Emulator() as emulator, Server(emulator) as server:
            stop = asyncio.Event()
            state.update(cluster=EmulatedCluster(emulator, str(server.url)), loop=asyncio.get_running_loop(), stop=stop)
            ready.set()
            await stop.wait()

    def main() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the waiting test below
            state["error"] = exc
            ready.set()

    thread = threading.Thread(target=main, name="kmock", daemon=True)
    thread.start()
    if not ready.wait(15) or "error" in state:
        raise RuntimeError(f"the kmock emulator did not start: {state.get('error')!r}")
    try:
        yield state["cluster"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
