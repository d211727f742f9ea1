"""Which files of a folder are uploaded to storage: the ignore file and the folders always left out.

A folder may hold a ``.sluiceignore`` (or, for projects coming from Prefect, a ``.prefectignore``)
in gitignore syntax. Whatever it says, ``.git``, ``__pycache__`` and virtual environments (``.venv``,
``venv`` or any folder holding a ``pyvenv.cfg``) are never uploaded.

Symbolic links follow the rules of ``sluice.file_tree`` with the project as their boundary: a link
inside the project is followed (a file link is uploaded as its content), a link outside it is refused
unless ``follow_symlinks`` asks for a copy, and a link looping back to a folder that contains it is
skipped.

``plan_upload`` is the one function storage blocks and ``sluice deployment build --dry-run`` share,
so what a dry run lists is exactly what an upload sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sluice.errors import ConfigurationError, UnsafeSymlinkError
from sluice.file_tree import LinkAction, LinkKind, Symlink, walk_files

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


@dataclass(frozen=True)
class UploadPlan:
    """What an upload of ``root`` sends: the files (relative to ``root``, sorted) and every symbolic
    link met on the way, each with what happens to it (see ``sluice.file_tree`` for the rules)."""

    root: Path
    files: list[Path]
    links: list[Symlink]
    follow_symlinks: bool = False

    @property
    def refused(self) -> list[Symlink]:
        """The links that stop the upload, in path order."""
        return [link for link in self.links if link.action is LinkAction.REFUSED]

    @property
    def skipped(self) -> list[Symlink]:
        """Folder links skipped because they loop back to a folder that contains them."""
        return [link for link in self.links if link.action is LinkAction.SKIPPED]

    @property
    def copied(self) -> list[Symlink]:
        """Links outside the project whose targets are uploaded because of ``follow_symlinks``."""
        return [link for link in self.links if link.action is LinkAction.COPIED]

    def check(self) -> None:
        """Raise ``UnsafeSymlinkError`` for the first refused link (and count the others)."""
        refused = self.refused
        if not refused:
            return
        message = refusal_message(refused[0])
        if len(refused) > 1:
            others = len(refused) - 1
            message += (
                f"; {others} more symlink{'s are' if others > 1 else ' is'} refused "
                "(sluice deployment build --dry-run lists them)"
            )
        raise UnsafeSymlinkError(message)


def refusal_message(link: Symlink) -> str:
    """Why ``link`` stops an upload, and how to proceed, in one line."""
    name, target = link.path.as_posix(), str(link.target)
    if link.kind is LinkKind.MISSING:
        return f"symlink {name!r} points to {target!r}, which does not exist: remove it or add it to .sluiceignore"
    if link.kind is LinkKind.SPECIAL:
        return (
            f"symlink {name!r} points to {target!r}, which is not a regular file or folder: "
            "remove it or add it to .sluiceignore"
        )
    return (
        f"symlink {name!r} points outside the project, to {target!r}: not uploaded. Add it to .sluiceignore "
        "to leave it out, or upload a copy of what it points to with --follow-symlinks "
        "(follow_symlinks=True in Python)"
    )


def describe_link(link: Symlink) -> str:
    """What an upload does with ``link``, as ``--dry-run`` shows it (``file link inside the project: …``)."""
    if link.kind is LinkKind.MISSING:
        return "link whose target does not exist: refused"
    if link.kind is LinkKind.SPECIAL:
        return "link to something that is not a regular file or folder: refused"
    if link.action is LinkAction.SKIPPED:
        return "folder link to a folder that contains it: skipped (a loop)"
    where = "inside" if link.inside else "outside"
    outcome = {
        LinkAction.FOLLOWED: "uploaded as its content" if link.kind is LinkKind.FILE else "followed",
        LinkAction.COPIED: "copied (--follow-symlinks)",
        LinkAction.REFUSED: "refused",
    }[link.action]
    return f"{link.kind.value} link {where} the project: {outcome}"


def plan_upload(root: str | Path, ignore_file: str | Path | None = None, follow_symlinks: bool = False) -> UploadPlan:
    """What uploading ``root`` sends, and what happens to each symbolic link; raises nothing for links.

    :param root: the folder to upload; it must exist.
    :param ignore_file: gitignore-style patterns to leave out; None uses the folder's own
        ``.sluiceignore`` / ``.prefectignore`` if there is one.
    :param follow_symlinks: upload what links pointing outside ``root`` point to, instead of refusing them.

    Folders excluded by a pattern are not walked into (as with git, a file inside an excluded folder
    cannot be re-included). Patterns apply to a link's own path; a link to a folder matches as a folder.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise ConfigurationError(f"cannot upload {str(root)!r}: it is not a folder")
    spec = load_ignore_spec(resolve_ignore_file(root_path, ignore_file))

    def leave_out(relative: str, path: str, is_folder: bool) -> bool:
        if relative.rpartition("/")[2] in ALWAYS_EXCLUDED_NAMES:
            return True
        if is_folder:
            return is_virtual_environment(Path(path)) or spec.match_file(f"{relative}/")
        return spec.match_file(relative)

    tree = walk_files(root_path, follow_outside=follow_symlinks, leave_out=leave_out)
    return UploadPlan(root_path, [Path(file) for file in tree.files], tree.links, follow_symlinks)


def files_to_upload(
    root: str | Path, ignore_file: str | Path | None = None, follow_symlinks: bool = False
) -> list[Path]:
    """The files under ``root`` that an upload sends, as sorted paths relative to ``root``.

    Takes the arguments of ``plan_upload``; a symbolic link the upload refuses raises
    ``UnsafeSymlinkError`` (a ``ConfigurationError``) that names it, its target and how to proceed.
    """
    plan = plan_upload(root, ignore_file, follow_symlinks)
    plan.check()
    return plan.files
