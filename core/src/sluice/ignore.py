"""Which files of a folder are uploaded to storage: the ignore file and the folders always left out.

A folder may hold a ``.sluiceignore`` (or, for projects coming from Prefect, a ``.prefectignore``)
in gitignore syntax. Whatever it says, ``.git``, ``__pycache__`` and virtual environments (``.venv``,
``venv`` or any folder holding a ``pyvenv.cfg``) are never uploaded.

``files_to_upload`` is the one function storage blocks and ``sluice deployment build --dry-run``
share, so what a dry run lists is exactly what an upload sends.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sluice.errors import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    import pathspec

#: Ignore-file names looked for in the uploaded folder, first found wins.
IGNORE_FILE_NAMES: tuple[str, ...] = (".sluiceignore", ".prefectignore")

#: Folder (and file) names never uploaded, whatever the ignore file says.
ALWAYS_EXCLUDED_NAMES: frozenset[str] = frozenset({".git", "__pycache__", ".venv", "venv"})


def find_ignore_file(root: str | Path) -> Path | None:
    """The ignore file of the folder ``root``: ``.sluiceignore``, else ``.prefectignore``, else None."""
    for name in IGNORE_FILE_NAMES:
        candidate = Path(root) / name
        if candidate.is_file():
            return candidate
    return None


def resolve_ignore_file(root: str | Path, ignore_file: str | Path | None) -> Path | None:
    """The ignore file to use for ``root``.

    ``None`` picks the folder's own (see ``find_ignore_file``). A relative path is looked up in the
    current folder, then in ``root``. A file that was named but does not exist is a
    ``ConfigurationError``: silently uploading everything would be worse.
    """
    if ignore_file is None:
        return find_ignore_file(root)
    given = Path(ignore_file)
    candidates = [given] if given.is_absolute() else [given, Path(root) / given]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ConfigurationError(f"ignore file {str(ignore_file)!r} not found (looked in the current folder and {root})")


def load_ignore_spec(ignore_file: str | Path | None) -> pathspec.PathSpec:
    """The patterns of ``ignore_file`` (gitignore syntax); an empty spec for None."""
    import pathspec

    lines = Path(ignore_file).read_text(encoding="utf-8").splitlines() if ignore_file else []
    return pathspec.GitIgnoreSpec.from_lines(lines)


def is_virtual_environment(folder: Path) -> bool:
    """True for a Python virtual environment: a folder that holds a ``pyvenv.cfg``."""
    return (folder / "pyvenv.cfg").is_file()


def files_to_upload(root: str | Path, ignore_file: str | Path | None = None) -> list[Path]:
    """The files under ``root`` that an upload sends, as sorted paths relative to ``root``.

    :param root: the folder to upload; it must exist.
    :param ignore_file: gitignore-style patterns to leave out; None uses the folder's own
        ``.sluiceignore`` / ``.prefectignore`` if there is one.

    Folders excluded by a pattern are not walked into (as with git, a file inside an excluded folder
    cannot be re-included). Symbolic links to folders are not followed.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise ConfigurationError(f"cannot upload {str(root)!r}: it is not a folder")
    spec = load_ignore_spec(resolve_ignore_file(root_path, ignore_file))
    found: list[Path] = []
    for current, folders, files in os.walk(root_path):
        current_path = Path(current)
        relative_folder = current_path.relative_to(root_path)
        # Prune in place so os.walk never descends into excluded folders.
        folders[:] = [
            name
            for name in folders
            if name not in ALWAYS_EXCLUDED_NAMES
            and not is_virtual_environment(current_path / name)
            and not spec.match_file(f"{(relative_folder / name).as_posix()}/")
        ]
        for name in files:
            relative = relative_folder / name
            if name in ALWAYS_EXCLUDED_NAMES or spec.match_file(relative.as_posix()):
                continue
            found.append(relative)
    return sorted(found, key=lambda path: path.as_posix())
