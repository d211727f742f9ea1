"""``LocalFileSystem``: a deployment's files kept in a folder of this machine (or a mounted share)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from sluice.storage import FsspecStorageBlock, Progress, UnsafeSymlinkError, plan_upload, relative_parts

if TYPE_CHECKING:  # pragma: no cover
    from fsspec import AbstractFileSystem


class LocalFileSystem(FsspecStorageBlock):
    """Store deployment files in a folder on the local disk.

    Only useful when the agent runs on the same machine, or the folder is a shared mount. ``basepath``
    defaults to the current folder; ``~`` is expanded.
    """

    block_type_slug: ClassVar[str] = "local-file-system"
    block_type_name: ClassVar[str | None] = "Local File System"

    basepath: str | None = None

    def _folder(self) -> Path:
        return Path(self.basepath or ".").expanduser().resolve()

    def open_filesystem(self) -> AbstractFileSystem:
        """fsspec's local file system."""
        from fsspec.implementations.local import LocalFileSystem as FsspecLocal

        return FsspecLocal()

    def put_directory(
        self,
        local_path: str | Path = ".",
        to_path: str | None = None,
        ignore_file: str | Path | None = None,
        progress: Progress | None = None,
        follow_symlinks: bool = False,
    ) -> int:
        """Copy the tree at ``local_path`` under ``to_path``; return the number of files.

        When the folder to upload already is the destination (the default ``basepath`` is the
        current folder), nothing is copied: the files are where they must be. Its symbolic links are
        checked all the same, and one pointing outside cannot be copied there (it would stay a link).
        """
        destination = self._folder().joinpath(*relative_parts(to_path))
        if Path(local_path).resolve() != destination:
            return super().put_directory(local_path, to_path, ignore_file, progress, follow_symlinks)
        plan = plan_upload(local_path, ignore_file, follow_symlinks)
        plan.check()
        if plan.copied:
            raise UnsafeSymlinkError(
                f"cannot copy symlink {plan.copied[0].path.as_posix()!r} (it points outside the project): the "
                "project is the storage block's own folder, so the link would stay a link and runs would refuse "
                "it. Replace it with a copy of its target, or give the block another basepath"
            )
        total = len(plan.files)
        if progress:
            progress(total, total)
        return total

    def base_path(self) -> str:
        """The absolute folder, ``~`` expanded."""
        return self._folder().as_posix()

    def display_url(self) -> str:
        """The absolute folder."""
        return self._folder().as_posix()
