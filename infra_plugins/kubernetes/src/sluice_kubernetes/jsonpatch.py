"""RFC 6902 JSON Patch (add, remove, replace, move, copy, test) over plain JSON values.

``validate_patch`` checks the shape of a patch without a document (so a block can refuse a bad
``customizations`` list when it is created or overridden); ``apply_patch`` applies it to a copy of
a document and either returns the patched copy or raises ``JsonPatchError`` naming the operation
that failed — the input document is never modified.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from sluice.errors import ConfigurationError

OPERATIONS: dict[str, tuple[str, ...]] = {
    "add": ("path", "value"),
    "remove": ("path",),
    "replace": ("path", "value"),
    "move": ("from", "path"),
    "copy": ("from", "path"),
    "test": ("path", "value"),
}


class JsonPatchError(ConfigurationError):
    """A JSON Patch is malformed, or one of its operations cannot be applied to the document."""


def parse_pointer(pointer: str) -> list[str]:
    """The reference tokens of an RFC 6901 JSON Pointer: ``"/a~1b/0"`` → ``["a/b", "0"]``."""
    if not isinstance(pointer, str):
        raise JsonPatchError(f"a JSON pointer must be a string, not {type(pointer).__name__}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise JsonPatchError(f"invalid JSON pointer {pointer!r}: it must be empty or start with '/'")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def validate_patch(patch: Any) -> list[dict[str, Any]]:
    """Check that ``patch`` is a list of well-formed operations; return it as a list of dicts."""
    if not isinstance(patch, Sequence) or isinstance(patch, str | bytes):
        raise JsonPatchError(f"a JSON Patch must be a list of operations, not {type(patch).__name__}")
    operations = []
    for index, operation in enumerate(patch):
        where = f"operation {index}"
        if not isinstance(operation, Mapping):
            raise JsonPatchError(f"{where}: must be an object like {{'op': 'add', 'path': ..., 'value': ...}}")
        op = operation.get("op")
        if op not in OPERATIONS:
            known = ", ".join(OPERATIONS)
            raise JsonPatchError(f"{where}: unknown op {op!r} (expected one of: {known})")
        for member in OPERATIONS[op]:
            if member not in operation:
                raise JsonPatchError(f"{where} ({op}): the member {member!r} is required")
        for member in ("path", "from"):
            if member in OPERATIONS[op]:
                try:
                    parse_pointer(operation[member])
                except JsonPatchError as exc:
                    raise JsonPatchError(f"{where} ({op}): {member}: {exc}") from None
        operations.append(dict(operation))
    return operations


def apply_patch(document: Any, patch: Any) -> Any:
    """A copy of ``document`` with every operation of ``patch`` applied, in order (all or nothing)."""
    result = copy.deepcopy(document)
    for index, operation in enumerate(validate_patch(patch)):
        op = operation["op"]
        try:
            result = _apply_one(result, operation)
        except JsonPatchError as exc:
            raise JsonPatchError(f"operation {index} ({op} {operation['path']}): {exc}") from None
    return result


def _apply_one(document: Any, operation: dict[str, Any]) -> Any:
    op = operation["op"]
    path = parse_pointer(operation["path"])
    if op == "add":
        return _add(document, path, copy.deepcopy(operation["value"]))
    if op == "remove":
        return _remove(document, path)[0]
    if op == "replace":
        document, _ = _remove(document, path)
        return _add(document, path, copy.deepcopy(operation["value"]))
    if op == "test":
        actual = _get(document, path)
        if not _json_equal(actual, operation["value"]):
            raise JsonPatchError(f"test failed: the value is {actual!r}, not {operation['value']!r}")
        return document
    source = parse_pointer(operation["from"])
    if op == "move":
        if path[: len(source)] == source and len(path) > len(source):
            raise JsonPatchError("cannot move a value into one of its own children")
        document, value = _remove(document, source)
        return _add(document, path, value)
    # copy
    return _add(document, path, copy.deepcopy(_get(document, source)))


def _get(document: Any, path: list[str]) -> Any:
    current = document
    for depth, token in enumerate(path):
        current = _child(current, token, path[: depth + 1])
    return current


def _child(container: Any, token: str, walked: list[str]) -> Any:
    where = _pointer(walked)
    if isinstance(container, dict):
        if token not in container:
            raise JsonPatchError(f"path not found: {where} does not exist")
        return container[token]
    if isinstance(container, list):
        index = _index(token, len(container), _pointer(walked[:-1]), allow_end=False)
        return container[index]
    raise JsonPatchError(f"path not found: {_pointer(walked[:-1]) or 'the document'} is a {_kind(container)}")


def _add(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(document, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(token, len(parent), _pointer(path[:-1]), allow_end=True), value)
    else:
        raise JsonPatchError(f"cannot add {_pointer(path)}: its parent is a {_kind(parent)}, not an object or array")
    return document


def _remove(document: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        return None, document
    parent = _get(document, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise JsonPatchError(f"path not found: {_pointer(path)} does not exist")
        return document, parent.pop(token)
    if isinstance(parent, list):
        return document, parent.pop(_index(token, len(parent), _pointer(path[:-1]), allow_end=False))
    raise JsonPatchError(f"path not found: the parent of {_pointer(path)} is a {_kind(parent)}")


def _index(token: str, length: int, where: str, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return length
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise JsonPatchError(f"invalid array index {token!r} in {where or 'the document'}")
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise JsonPatchError(
            f"path not found: index {index} of {where or 'the document'} is out of range (the array has {length})"
        )
    return index


def _json_equal(left: Any, right: Any) -> bool:
    # JSON distinguishes booleans from numbers (Python's True == 1 does not).
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    return left == right


def _pointer(tokens: list[str]) -> str:
    return "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens)


def _kind(value: Any) -> str:
    return "null" if value is None else {dict: "object", list: "array", str: "string"}.get(type(value), "scalar")
