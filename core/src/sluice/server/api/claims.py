"""``POST /api/work_queues/claim``: agents claim due runs, as a long poll.

An ``async`` endpoint: the database work runs in worker threads, and the wait between attempts is
an ``await`` on the queue backend, so a thousand waiting agents cost no threads.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Coroutine
from functools import lru_cache, partial
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from sluice.queues import ClaimConflict, ClaimRequest, QueueServiceUnavailable
from sluice.schemas.agents import ClaimFlowRuns
from sluice.schemas.flow_runs import FlowRun
from sluice.server.api.flow_runs import to_flow_run
from sluice.server.api.responses import JSON, model_json
from sluice.server.queue_backend import get_app_queue_backend

logger = logging.getLogger("sluice.server")
router = APIRouter(prefix="/work_queues", tags=["Work queues"])


@router.post("/claim", response_model=list[FlowRun])
async def claim_flow_runs(body: ClaimFlowRuns, request: Request) -> Response:
    """Claim up to ``limit`` due runs of the queues for ``agent_id`` (they become PENDING).

    Paused queues hand out nothing; queue and deployment concurrency limits are honoured. With
    ``wait_seconds`` the answer comes as soon as a run can be claimed (a new run, a rescheduled one,
    one whose time came, a freed slot), or empty when the time is up. A 503 (``Retry-After``) when
    the queue backend cannot reach what it claims through (e.g. Redis).
    """
    backend = get_app_queue_backend(request.app)
    claim = ClaimRequest(
        queues=tuple(body.queues),
        limit=body.limit,
        agent_id=body.agent_id,
        prefetch_seconds=body.prefetch_seconds,
        match=body.match,
    )
    deadline = time.monotonic() + body.wait_seconds
    while True:
        version = backend.work_version()
        try:
            answers = await anyio.to_thread.run_sync(partial(_claim_answers, backend, claim))
        except (QueueServiceUnavailable, ClaimConflict) as exc:
            logger.warning("claim failed: %s", exc)
            return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "1"})
        remaining = deadline - time.monotonic()
        if answers or remaining <= 0:
            return Response(content=b"[" + b",".join(answers) + b"]", media_type=JSON)
        if not await _wait_unless_disconnected(backend.wait_for_work(claim, remaining, since=version), request):
            return Response(content=b"[]", media_type=JSON)  # nobody would receive the runs: leave them


def flow_run_json(run: Any) -> bytes:
    """A claimed run's answer, as JSON: built inside the claim's transaction (see ``claim_runs``),
    so a run that cannot be serialised is never left PENDING."""
    return model_json(to_flow_run(run, strict=True))


def _claim_answers(backend: Any, claim: ClaimRequest) -> list[bytes]:
    if _takes_build_answer(type(backend)):
        return backend.claim_runs(claim, build_answer=flow_run_json)
    # A backend written before ``build_answer``: its answers can only be built after its commit.
    return [flow_run_json(run) for run in backend.claim_runs(claim)]


@lru_cache(maxsize=8)
def _takes_build_answer(backend_class: type) -> bool:
    return "build_answer" in inspect.signature(backend_class.claim_runs).parameters


async def _wait_unless_disconnected(waiting: Coroutine[Any, Any, None], request: Request) -> bool:
    """Await ``waiting``; False (and stop waiting) as soon as the client goes away, so an agent that
    stopped never holds a request — or a server's shutdown — open."""
    wait_task = asyncio.ensure_future(waiting)
    gone_task = asyncio.ensure_future(_client_gone(request))
    try:
        done, _ = await asyncio.wait({wait_task, gone_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (wait_task, gone_task):
            task.cancel()
    return gone_task not in done


async def _client_gone(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
