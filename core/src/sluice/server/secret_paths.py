"""Secret fields of block documents, addressed by dotted paths into their JSON data.

A block schema's ``secret_fields`` lists paths: ``aws_secret_access_key`` for a field of the block
itself, ``image_registry.password`` for a field of a model nested in it (a Docker registry login
inside a Docker container block). The server keeps every value found at those paths out of the
stored ``data`` and encrypts them together; these helpers take them out and put them back.
"""

from __future__ import annotations

import copy
from typing import Any

#: What a secret's value is replaced with in answers that do not ask for secrets.
MASK = "********"

_MISSING = object()


def get_path(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of nested dicts, or ``None`` when any part is missing."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at a dotted ``path``; a missing or null parent becomes an empty dict."""
    *parents, last = path.split(".")
    target = data
    for part in parents:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[last] = value


def split_secrets(data: dict[str, Any], secret_paths: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` without its secrets, and the secrets by path (nulls and absent paths are not secrets)."""
    plain = copy.deepcopy(data)
    secrets: dict[str, Any] = {}
    for path in secret_paths:
        *parents, last = path.split(".")
        parent = get_path(plain, ".".join(parents)) if parents else plain
        if isinstance(parent, dict) and parent.get(last, _MISSING) not in (None, _MISSING):
            secrets[path] = parent.pop(last)
    return plain, secrets


def join_secrets(plain: dict[str, Any], secrets: dict[str, Any], masked: bool) -> dict[str, Any]:
    """``plain`` with the secrets put back at their paths, each one as ``MASK`` when ``masked``."""
    data = copy.deepcopy(plain)
    for path, value in secrets.items():
        set_path(data, path, MASK if masked else value)
    return data


def masked_paths(data: dict[str, Any], secret_paths: list[str]) -> list[str]:
    """The secret paths whose value in ``data`` is the mask rather than a real value."""
    return [path for path in secret_paths if get_path(data, path) == MASK]
