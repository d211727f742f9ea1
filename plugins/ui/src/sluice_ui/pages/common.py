"""Helpers the page modules share: paging through filters, error pages, form reading."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from sluice.schemas import FlowRun
from sluice_ui.api import ApiError, UiApi
from sluice_ui.templating import render

#: The most runs one page gathers (five API pages of 1000).
MAX_RUNS = 5000


async def gather_flow_runs(api: UiApi, **criteria: Any) -> list[FlowRun]:
    """Every run matching ``criteria``, page by page, up to ``MAX_RUNS``."""
    runs: list[FlowRun] = []
    while len(runs) < MAX_RUNS:
        page = await api.flow_runs(**criteria, limit=1000, offset=len(runs))
        runs.extend(page)
        if len(page) < 1000:
            break
    return runs


def iso(value: datetime) -> str:
    """A datetime as the API reads it."""
    return value.isoformat()


def split_tags(text: str) -> list[str]:
    """``"a, b ,c"`` → ``["a", "b", "c"]`` (empty items dropped, order kept, no duplicates)."""
    seen: list[str] = []
    for item in text.split(","):
        tag = item.strip()
        if tag and tag not in seen:
            seen.append(tag)
    return seen


def error_page(request: Request, error: ApiError) -> Response:
    """The page shown when the API refused what a page asked (404 for an unknown id, …)."""
    status = error.status_code if 400 <= error.status_code < 600 else 500
    return render(request, "error.html", {"status": status, "detail": error.detail}, status_code=status)
