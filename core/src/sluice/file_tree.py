"""Listing the files of a folder with one set of rules for symbolic links, shared by uploads
(``sluice.ignore``) and by downloads from a storage block on this machine (``sluice.storage``).

The walk has a *boundary*, a folder its links must stay in (the project for an upload, the block's
base for a download), and meets each link with these rules:

- a link whose target resolves inside the boundary is followed: a file link stands for its target's
  content, a folder link is walked into and its files are listed under the link's own name;
- a folder link to a folder that contains it (``up -> ..``), directly or through other links, is
  skipped: what it shows is already listed, and following it would never end;
- a link resolving outside the boundary is refused, unless the walk is told to copy those too
  (``follow_outside``, what ``--follow-symlinks`` turns on);
- a link whose target does not exist, or is neither a regular file nor a folder (a device, a pipe),
  is refused.

Links that multiply (``a/1 -> b``, ``a/2 -> b``, ``b/1 -> c``, ``b/2 -> c``…) would make the walk
grow exponentially without a loop: past ``MAX_FOLDER_LINKS`` folder links followed, it stops with
``UnsafeSymlinkError``.

Nothing is read or written: the caller decides what a refused link means (an upload or a download
that fails with a one-line error).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath

from sluice.errors import UnsafeSymlinkError

#: How many folder links one walk follows at most: far more than any project has, far fewer than a
#: tree of links that multiplies would need.
MAX_FOLDER_LINKS = 10_000


class LinkKind(StrEnum):
    """What a symbolic link resolves to."""

    FILE = "file"
    FOLDER = "folder"
    MISSING = "missing"
    SPECIAL = "special"


class LinkAction(StrEnum):
    """What the walk does with a symbolic link."""

    FOLLOWED = "followed"
    COPIED = "copied"
    SKIPPED = "skipped"
    REFUSED = "refused"


@dataclass(frozen=True)
class Symlink:
    """A symbolic link met by a walk, with where it leads and what the walk did with it."""

    #: Where the link is, relative to the walked folder.
    path: PurePosixPath
    #: Its target, fully resolved.
    target: Path
    #: The target as shown to people: relative to the boundary when inside it (``.`` for the boundary
    #: itself), else absolute.
    shown_target: str
    kind: LinkKind
    inside: bool
    action: LinkAction


#: ``leave_out(relative, path, is_folder)``: True for an entry the walk must not list nor look into;
#: ``relative`` is its POSIX path relative to the walked folder, ``path`` the path to open it by.
LeaveOut = Callable[[str, str, bool], bool]


@dataclass
class FileTree:
    """The files a walk found (POSIX paths relative to the walked folder, sorted) and every link it met."""

    files: list[str] = field(default_factory=list)
    links: list[Symlink] = field(default_factory=list)

    @property
    def refused(self) -> list[Symlink]:
        """The links refused, in path order."""
        return [link for link in self.links if link.action is LinkAction.REFUSED]


def resolved(path: str | Path) -> Path:
    """``path`` with every symbolic link resolved (missing parts are kept as written)."""
    return Path(os.path.realpath(path))


def walk_files(
    folder: str | Path,
    boundary: str | Path | None = None,
    follow_outside: bool = False,
    leave_out: LeaveOut | None = None,
) -> FileTree:
    """List the files under ``folder``, meeting symbolic links with the rules of this module.

    :param folder: the folder to walk; it may itself be reached through a link.
    :param boundary: the folder links must stay in (default: ``folder``).
    :param follow_outside: follow links that resolve outside the boundary instead of refusing them.
    :param leave_out: entries to neither list nor walk into (ignore patterns); a link is asked with
        ``is_folder`` true when it points to a folder. A left-out link is not reported.
    """
    limit = resolved(boundary if boundary is not None else folder)
    tree = FileTree()
    # Paths are kept as strings: a walk meets every file of a project, and pathlib objects cost.
    # Each folder to walk: its path (possibly through links), its path relative to the start, its real
    # path, and the real paths of the folders that contain it on this walk (a link back to one of those
    # is a loop).
    start_real = resolved(folder)
    within = {str(each) for each in (start_real, *start_real.parents) if each.is_relative_to(limit)}
    pending: list[tuple[str, str, str, frozenset[str]]] = [
        (str(folder), "", str(start_real), frozenset({*within, str(start_real)}))
    ]
    followed = 0
    while pending:
        current, relative_folder, current_real, enclosing = pending.pop()
        with os.scandir(current) as scanned:
            entries = list(scanned)
        for entry in entries:
            relative = f"{relative_folder}/{entry.name}" if relative_folder else entry.name
            if entry.is_symlink():
                link = _inspect_link(entry.path, relative, limit, enclosing, follow_outside)
                if leave_out is not None and leave_out(relative, entry.path, link.kind is LinkKind.FOLDER):
                    continue
                tree.links.append(link)
                if link.action in (LinkAction.FOLLOWED, LinkAction.COPIED):
                    if link.kind is LinkKind.FOLDER:
                        followed += 1
                        if followed > MAX_FOLDER_LINKS:
                            raise UnsafeSymlinkError(
                                f"more than {MAX_FOLDER_LINKS:,} symlinked folders to follow under {str(folder)!r} "
                                f"(the last: {relative!r}): links that point to the same folders many times over? "
                                "Replace some with copies, or leave them out with .sluiceignore"
                            )
                        target = str(link.target)
                        pending.append((entry.path, relative, target, enclosing | {target}))
                    else:
                        tree.files.append(relative)
            elif entry.is_dir(follow_symlinks=False):
                if leave_out is not None and leave_out(relative, entry.path, True):
                    continue
                real = os.path.join(current_real, entry.name)  # not a link: no need to ask the file system
                pending.append((entry.path, relative, real, enclosing | {real}))
            else:
                if leave_out is not None and leave_out(relative, entry.path, False):
                    continue
                tree.files.append(relative)
    tree.files.sort()
    tree.links.sort(key=lambda link: str(link.path))
    return tree


def _inspect_link(path: str, relative: str, limit: Path, enclosing: frozenset[str], follow_outside: bool) -> Symlink:
    target = resolved(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:  # the target is missing, or the links never end (ELOOP)
        kind = LinkKind.MISSING
    else:
        kind = LinkKind.FOLDER if stat.S_ISDIR(mode) else LinkKind.FILE if stat.S_ISREG(mode) else LinkKind.SPECIAL
    inside = target.is_relative_to(limit)
    if kind in (LinkKind.MISSING, LinkKind.SPECIAL) or (not inside and not follow_outside):
        action = LinkAction.REFUSED
    elif kind is LinkKind.FOLDER and str(target) in enclosing:
        action = LinkAction.SKIPPED
    else:
        action = LinkAction.FOLLOWED if inside else LinkAction.COPIED
    shown = target.relative_to(limit).as_posix() if inside else str(target)
    return Symlink(
        path=PurePosixPath(relative), target=target, shown_target=shown, kind=kind, inside=inside, action=action
    )
