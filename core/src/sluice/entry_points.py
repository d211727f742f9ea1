"""Finding the installed ``sluice`` entry points without importing ``importlib.metadata``.

Every ``sluice`` command starts by discovering plugins, so discovery is on the path of
``sluice --help``. ``importlib.metadata`` costs about 35 ms there (it imports the ``email``
package to parse metadata and builds a ``Distribution`` per installed package); reading the
``entry_points.txt`` and the first lines of ``METADATA`` of each ``*.dist-info`` folder on
``sys.path`` costs a few. The rules are the ones ``importlib.metadata`` follows: folders are searched
in ``sys.path`` order and, when one distribution is installed twice, the first one found wins.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

_METADATA_FILES = ("METADATA", "PKG-INFO")


@dataclass(frozen=True)
class EntryPoint:
    """One entry point: its ``name``, its ``value`` (``module:attribute``) and where it comes from."""

    name: str
    value: str
    distribution: str
    version: str

    def load(self) -> Any:
        """Import the module and return the object the entry point names."""
        reference = self.value.split("[", 1)[0]  # an old-style "module:attr [extra]" names extras after
        module_name, _, attribute = reference.partition(":")
        found: Any = importlib.import_module(module_name.strip())
        for part in attribute.strip().split(".") if attribute.strip() else ():
            found = getattr(found, part)
        return found


def normalise(distribution: str) -> str:
    """A distribution name compared the PEP 503 way: ``Sluice_S3`` and ``sluice-s3`` are one."""
    return re.sub(r"[-_.]+", "-", distribution.strip()).lower()


def find_entry_points(group: str, path: list[str] | None = None) -> list[EntryPoint]:
    """The entry points of ``group`` of every distribution installed on ``path`` (default ``sys.path``)."""
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for folder in sys.path if path is None else path:
        for metadata_dir in _metadata_dirs(folder or "."):
            distribution, version = _name_and_version(metadata_dir)
            key = normalise(distribution)
            if key in seen:
                continue
            seen.add(key)
            for name, value in _read_group(os.path.join(metadata_dir, "entry_points.txt"), group):
                found.append(EntryPoint(name, value, distribution, version))
    return found


def _metadata_dirs(folder: str) -> list[str]:
    """The ``*.dist-info`` and ``*.egg-info`` folders directly inside ``folder``, sorted by name."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name.endswith((".dist-info", ".egg-info")) and e.is_dir()]
    except OSError:  # a missing folder or a zip file on sys.path: nothing installed there
        return []
    return [os.path.join(folder, name) for name in sorted(names)]


def _name_and_version(metadata_dir: str) -> tuple[str, str]:
    """The ``Name`` and ``Version`` headers of a metadata folder (from its folder name when unreadable)."""
    stem = os.path.basename(metadata_dir).rsplit(".", 1)[0]
    fallback_name, _, fallback_version = stem.partition("-")
    headers: dict[str, str] = {}
    for file_name in _METADATA_FILES:
        try:
            with open(os.path.join(metadata_dir, file_name), encoding="utf-8") as metadata:
                for line in metadata:
                    if not line.strip():
                        break  # the headers end at the first blank line; the description follows
                    key, _, value = line.partition(":")
                    if key in ("Name", "Version") and key not in headers:
                        headers[key] = value.strip()
            break
        except OSError:
            continue
    return headers.get("Name", fallback_name), headers.get("Version", fallback_version or "unknown")


def _read_group(entry_points_file: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of one ``[group]`` section of an ``entry_points.txt`` file."""
    try:
        with open(entry_points_file, encoding="utf-8") as text:
            lines = text.read().splitlines()
    except OSError:
        return []
    pairs: list[tuple[str, str]] = []
    in_group = False
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            in_group = stripped[1:-1].strip() == group
        elif in_group and "=" in stripped:
            name, _, value = stripped.partition("=")
            pairs.append((name.strip(), value.strip()))
    return pairs
