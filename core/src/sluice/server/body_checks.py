"""Every request body, checked once before any route sees it: its size, and what JSON may hold.

``RequestBodyMiddleware`` is a plain ASGI middleware in front of the whole app:

- a body larger than ``SLUICE_SERVER_MAX_BODY_BYTES`` is a 413. A ``Content-Length`` over the limit
  is refused before a byte of the body is read; a body without one (chunked) is read only up to the
  limit, so a 300 MB upload never sits in memory;
- a JSON body (``application/json`` or ``+json``) must be UTF-8 and may not hold what JSON cannot
  carry between systems: lone UTF-16 surrogates (``"\\ud800"``), ``NaN``/``Infinity`` (and numbers
  too large to be finite), or nesting deeper than ``MAX_JSON_DEPTH``; nor may it be anything but
  JSON (FastAPI would also read UTF-16, unchecked). Each is a 422 naming the problem, and nothing
  is stored. (SQLite would store them and every later read of the row would
  fail; PostgreSQL refuses some and not others.)

The body is then handed on to the app as one message. The checks cost a scan of the body with
``str.count``/``re`` and a ``json.loads`` in C; the walk over the parsed value happens only when a
scan says it may find something. Bodies over ``THREAD_THRESHOLD`` are checked in a worker thread,
so a large one never holds up the event loop.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

#: How deep objects and arrays may nest in a JSON body.
MAX_JSON_DEPTH = 64
#: Bodies larger than this (bytes) are checked in a worker thread.
THREAD_THRESHOLD = 64 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# A \u escape of a UTF-16 surrogate: a lone one is not text, a high+low pair is one character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# A number that may overflow a float: an exponent of three digits or more, or 300 digits in a row.
_HUGE_NUMBER = re.compile(r"[eE]\+?0*[1-9][0-9]{2}|[0-9]{300}")
_NON_FINITE = ("NaN", "Infinity", "-Infinity")


class BodyProblem(ValueError):
    """What is wrong with a request body, with the HTTP status that says so."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _refuse_constant(name: str) -> Any:
    raise BodyProblem(422, f"the JSON body holds {name}: JSON has no NaN or Infinity; send a finite number or null")


def _location(path: list[str | int]) -> str:
    if not path:
        return "the top level"
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _walk_problem(value: Any, max_depth: int) -> str | None:
    """The first lone surrogate, non-finite number or too-deep nesting in a parsed JSON value."""
    # Iterative, so that a deep value cannot exhaust the interpreter's stack.
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _has_lone_surrogate(item):
                return f"a string at {_location(path)} holds a lone UTF-16 surrogate; send valid Unicode text"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"the number at {_location(path)} is too large: send a finite number"
        elif isinstance(item, dict | list):
            if len(path) >= max_depth:
                return f"the JSON body nests deeper than {max_depth} levels (at {_location(path)}); flatten it"
            if isinstance(item, dict):
                for key, child in item.items():
                    if not key.isascii() and _has_lone_surrogate(key):
                        return f"a key at {_location(path)} holds a lone UTF-16 surrogate; send valid Unicode text"
                    stack.append((child, [*path, key]))
            else:
                stack.extend((child, [*path, index]) for index, child in enumerate(item))
    return None


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_json_body(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``BodyProblem`` (422) unless ``body`` is JSON that can be stored and read back as it is.

    Refused here rather than left to FastAPI: text that is not UTF-8 JSON (FastAPI would also read
    UTF-16, unchecked), lone surrogates, non-finite numbers, nesting past ``max_depth``.
    """
    try:
        text = body.decode("utf-8")  # strict: encoded surrogates and stray bytes are refused here
    except UnicodeDecodeError as exc:
        raise BodyProblem(422, f"the JSON body is not valid UTF-8 (byte {exc.start}); send UTF-8 text") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark is allowed, as json.loads allows it
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BodyProblem(
            422, f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise BodyProblem(422, f"the JSON body nests deeper than {max_depth} levels; flatten it") from None
    except BodyProblem:
        raise
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise BodyProblem(422, f"the JSON body cannot be read: {exc}") from None
    deep = text.count("[") + text.count("{") > max_depth
    if deep or _SURROGATE_ESCAPE.search(text) or _HUGE_NUMBER.search(text):
        problem = _walk_problem(value, max_depth)
        if problem is not None:
            raise BodyProblem(422, problem)


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json" or (
        media_type.startswith(b"application/") and media_type.endswith(b"+json")
    )


class RequestBodyMiddleware:
    """Refuse over-large bodies (413) and JSON bodies that cannot be stored safely (422)."""

    def __init__(self, app: Any, max_body_bytes: int, max_json_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read and check the body of an HTTP request, then pass it on in one message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: int | None = None
        content_type = b""
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"content-type":
                content_type = value
            elif name == b"transfer-encoding":
                chunked = True
        if length is None and not chunked and scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)  # no body: the hot path of reads costs nothing more
            return
        try:
            if length is not None and length > self.max_body_bytes:
                raise self._too_large()
            body = await self._read_body(receive)
            if body and _is_json(content_type):
                await self._check(body)
        except BodyProblem as problem:
            await _answer(send, problem.status, problem.detail)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BodyProblem(400, "the client went away before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()  # stop reading: the rest of the body is never buffered
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _check(self, body: bytes) -> None:
        if len(body) <= THREAD_THRESHOLD:
            check_json_body(body, self.max_json_depth)
            return
        import anyio.to_thread

        await anyio.to_thread.run_sync(check_json_body, body, self.max_json_depth)

    def _too_large(self) -> BodyProblem:
        return BodyProblem(
            413,
            f"the request body is larger than {self.max_body_bytes} bytes, the server's limit "
            "(SLUICE_SERVER_MAX_BODY_BYTES); send less per request",
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body read already, then the client's later messages
    (``http.disconnect``, which long polls wait for)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))  # the unread rest of the body cannot be skipped cheaply
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
