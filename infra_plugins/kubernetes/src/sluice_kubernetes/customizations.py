"""The kubernetes-job block's ``customizations``: an RFC 6902 JSON Patch over its Job manifest.

The ``jsonpatch`` library applies the patch. This module adds what the block needs around it:
``check_customizations`` refuses a malformed patch when the block is made (the library checks the
``value`` and ``from`` members only once it applies them), and ``apply_customizations`` turns a
failed operation into one line naming the operation, its path and why. The library's own messages
can hold the part of the manifest a pointer stopped in — the environment, secrets included — so a
reason names paths, and only a failed ``test`` shows the value it found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jsonpointer import JsonPointer, JsonPointerException

from sluice.errors import ConfigurationError

#: The members each operation needs besides ``op`` and ``path``.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "add": ("value",),
    "remove": (),
    "replace": ("value",),
    "move": ("from",),
    "copy": ("from",),
    "test": ("value",),
}


class CustomizationError(ConfigurationError):
    """A patch is malformed, or one of its operations does not apply to the manifest."""


def check_customizations(patch: Any) -> list[dict[str, Any]]:
    """``patch`` as a list of operations, each with a known ``op``, its members and valid JSON pointers."""
    if not isinstance(patch, Sequence) or isinstance(patch, str | bytes):
        raise CustomizationError(f"a JSON Patch must be a list of operations, not {type(patch).__name__}")
    for index, operation in enumerate(patch):
        where = f"operation {index}"
        if not isinstance(operation, Mapping):
            raise CustomizationError(f"{where}: must be an object like {{'op': 'add', 'path': ..., 'value': ...}}")
        op = operation.get("op")
        if op not in OPERATIONS:
            raise CustomizationError(f"{where}: unknown op {op!r} (expected one of: {', '.join(OPERATIONS)})")
        for member in ("path", *OPERATIONS[op]):
            if member not in operation:
                raise CustomizationError(f"{where} ({op}): the member {member!r} is required")
            if member in ("path", "from"):
                _check_pointer(operation[member], f"{where} ({op}): {member}")
    return [dict(operation) for operation in patch]


def _check_pointer(pointer: Any, where: str) -> None:
    if not isinstance(pointer, str):
        raise CustomizationError(f"{where}: a JSON pointer must be a string, not {type(pointer).__name__}")
    if pointer and not pointer.startswith("/"):
        raise CustomizationError(f"{where}: invalid JSON pointer {pointer!r}: it must be empty or start with '/'")
    try:
        JsonPointer(pointer)
    except JsonPointerException as exc:  # an escape other than ~0 ('~') and ~1 ('/')
        hint = "a '~' in a name is written ~0, a '/' ~1"
        raise CustomizationError(f"{where}: invalid JSON pointer {pointer!r}: {exc} ({hint})") from None


def apply_customizations(manifest: Any, patch: list[dict[str, Any]]) -> Any:
    """A copy of ``manifest`` with each operation of a checked ``patch`` applied in order, all or nothing."""
    import jsonpatch  # brings difflib along: only building a Job needs it

    document = manifest
    for index, operation in enumerate(patch):
        try:
            # one operation at a time, each on a copy: the failing one is known, and so is the
            # document it failed on (the manifest itself is never modified)
            document = jsonpatch.JsonPatch([operation]).apply(document)
        except (jsonpatch.JsonPatchException, JsonPointerException) as exc:
            reason = _why_not_applied(document, operation, exc)
            raise CustomizationError(f"operation {index} ({operation['op']} {operation['path']}): {reason}") from None
    return document


def _why_not_applied(document: Any, operation: dict[str, Any], exc: Exception) -> str:
    import jsonpatch

    op, path = operation["op"], JsonPointer(operation["path"])
    if "from" in operation:
        source = JsonPointer(operation["from"])
        if op == "move" and path != source and path.contains(source):
            return "cannot move a value into one of its own children"
        if problem := _unreachable(document, source, adds=False):
            return problem
        if op == "move":  # the path is resolved once the value has left its place
            document = jsonpatch.JsonPatch([{"op": "remove", "path": operation["from"]}]).apply(document)
    if problem := _unreachable(document, path, adds=op in ("add", "move", "copy")):
        return problem
    if isinstance(exc, jsonpatch.JsonPatchTestFailed):
        return f"test failed: the value is {path.resolve(document)!r}, not {operation['value']!r}"
    return str(exc)


def _unreachable(document: Any, pointer: JsonPointer, *, adds: bool) -> str | None:
    """Why ``pointer`` does not lead into ``document``; None when it does.

    ``adds``: the pointer names a place to add a value, so its last token may be a new member of an
    object, or the end of an array (its length, or ``-``).
    """
    current = document
    for depth, token in enumerate(pointer.parts):
        can_be_new = adds and depth == len(pointer.parts) - 1
        container = JsonPointer.from_parts(pointer.parts[:depth]).path or "the document"
        if isinstance(current, Mapping):
            if token not in current:
                missing = JsonPointer.from_parts(pointer.parts[: depth + 1]).path
                return None if can_be_new else f"path not found: {missing} does not exist"
            current = current[token]
        elif isinstance(current, list):
            if token == "-" and can_be_new:
                return None
            try:
                index = JsonPointer.get_part(current, token)
            except JsonPointerException:
                index = None
            if not isinstance(index, int):
                return f"invalid array index {token!r} in {container}"
            if index > len(current) or (index == len(current) and not can_be_new):
                return f"path not found: index {index} of {container} is out of range (the array has {len(current)})"
            if index == len(current):
                return None
            current = current[index]
        elif can_be_new:
            return f"cannot add {pointer.path}: its parent is a {_kind(current)}, not an object or array"
        else:
            return f"path not found: {container} is a {_kind(current)}"
    return None


def _kind(value: Any) -> str:
    return "null" if value is None else "string" if isinstance(value, str) else "scalar"
