"""Storage: the whole contract of a storage plugin, and ``FsspecStorageBlock``, the four storage methods
written once on top of an fsspec file system.

A plugin that adds a storage type (``register_storage_blocks``) imports from here only:

- ``StorageBlock`` (the base: ``put_directory``, ``get_directory``, ``read_path``, ``write_path``)
  and ``FsspecStorageBlock`` (all four done for any fsspec file system);
- ``plan_upload`` (and its ``UploadPlan``) for a block that uploads trees itself: which files, by the
  ignore file and the symlink rules every block follows; ``Progress``, the progress callback type;
- ``relative_parts`` (a path under a block's base; ``..`` and absolute paths refused),
  ``strip_userinfo``, ``mask_settings``, ``secret_values_in``, ``looks_secret``, ``MASK`` and
  ``describe_library_error``: messages without secrets;
- ``StorageError``, ``UnsafeSymlinkError``, ``ConfigurationError``;
- ``Block`` and ``BlockReference`` for supporting blocks (a login the storage uses);
- ``storage_block_types()``: the installed storage types by slug.

A subclass of ``FsspecStorageBlock`` says three things: which fsspec file system to open
(``open_filesystem``), where the block's files live in it (``base_path``) and how to show that place to
a human (``display_url``, never with a secret in it). This class then uploads and downloads trees,
reads and writes single files, refuses paths that escape the base (on a file system of this machine,
through symbolic links too), reports progress, and turns every library error (wrong credentials, a
missing bucket, an unreachable host, a missing library) into one ``StorageError`` that names the block
type and the URL.

fsspec and the plugins' SDKs are imported inside the methods, never at import time.
"""

from __future__ import annotations

import os
import re
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from sluice.blocks import MASK, Block, BlockReference, Progress, StorageBlock, looks_secret
from sluice.errors import ConfigurationError, SluiceError, StorageError, UnsafeSymlinkError
from sluice.ignore import UploadPlan, plan_upload

if TYPE_CHECKING:  # pragma: no cover
    from fsspec import AbstractFileSystem

__all__ = [
    "MASK",
    "Block",
    "BlockReference",
    "ConfigurationError",
    "FsspecStorageBlock",
    "Progress",
    "StorageBlock",
    "StorageError",
    "UnsafeSymlinkError",
    "UploadPlan",
    "describe_library_error",
    "looks_secret",
    "mask_settings",
    "plan_upload",
    "relative_parts",
    "secret_values_in",
    "storage_block_types",
    "strip_userinfo",
]

_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def storage_block_types() -> dict[str, type[StorageBlock]]:
    """Every installed storage block type by slug (a slug two plugins claim is left out)."""
    from sluice.plugins import get_registry

    return {entry.slug: entry.cls for entry in get_registry("storage").entries()}


def mask_settings(settings: Any) -> Any:
    """A copy of ``settings`` with the values of secret-looking keys replaced by the mask, recursively."""
    if isinstance(settings, Mapping):
        return {
            key: (MASK if looks_secret(str(key)) and value not in (None, "") else mask_settings(value))
            for key, value in settings.items()
        }
    if isinstance(settings, list | tuple):
        return [mask_settings(item) for item in settings]
    return settings


def secret_values_in(settings: Any) -> list[str]:
    """Every string value under a secret-looking key of ``settings``, to scrub from messages."""
    found: list[str] = []
    if isinstance(settings, Mapping):
        for key, value in settings.items():
            if looks_secret(str(key)) and isinstance(value, str | SecretStr):
                text = value.get_secret_value() if isinstance(value, SecretStr) else value
                if text:
                    found.append(text)
            else:
                found.extend(secret_values_in(value))
    elif isinstance(settings, list | tuple):
        for item in settings:
            found.extend(secret_values_in(item))
    return found


def strip_userinfo(url: str) -> str:
    """``scheme://user:password@host/x`` without the ``user:password@`` part."""
    return _URL_USERINFO.sub(r"\g<scheme>", url)


def _is_local_filesystem(filesystem: AbstractFileSystem) -> bool:
    """True for fsspec's file system of this machine's disks (``file://``), where symbolic links exist."""
    protocols = filesystem.protocol if isinstance(filesystem.protocol, tuple | list) else (filesystem.protocol,)
    return any(protocol in ("file", "local") for protocol in protocols)


def relative_parts(path: str | None) -> list[str]:
    """The segments of a path relative to a block's base; ``ValueError`` for one that escapes it.

    ``None``, ``""`` and ``"."`` are the base itself (no segments). Absolute paths, drive letters, URLs
    and any ``..`` segment are refused.
    """
    if path is None:
        return []
    text = str(path)
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text) or "://" in text:
        raise ValueError(f"path {text!r} is absolute: storage paths are relative to the block's base path")
    parts = [part for part in re.split(r"[\\/]+", text) if part not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"path {text!r} escapes the block's base path ('..' is not allowed)")
    return parts


def describe_library_error(exc: BaseException) -> str:
    """A short reason for a storage library error, with a hint on what to check."""
    # Libraries put whole XML bodies and request ids in their messages: keep the first line.
    lines = [line.strip() for line in f"{exc}".splitlines() if line.strip()]
    text = (lines[0] if lines else type(exc).__name__)[:300]
    lowered = f"{type(exc).__name__} {text}".lower()
    access_words = (
        "accessdenied",
        "access denied",
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "forbidden",
        "unauthorized",
        "authenticat",
        "authorizationfailure",
        "logon failure",
        "status_logon_failure",
        "invalid credentials",
        "permission denied",
    )
    unreachable_words = (
        "could not connect",
        "cannot connect",
        "connection refused",
        "failed to connect",
        "connect call failed",
        "name or service not known",
        "timed out",
        "unreachable",
        "nodename nor servname",
        "temporary failure in name resolution",
    )
    not_found_words = ("nosuchbucket", "not found", "notfound", "does not exist", "no such")
    unreachable = f"cannot reach the server: {text} — check the host, the port and that the service is running"
    denied = f"access denied: {text} — check the credentials"
    not_found = "not found — check that the bucket, container or share exists and the path is right"
    # The exception's type says most; words are the fallback for libraries that raise generic types
    # (and the message may hold a path, so the type checks come first).
    if isinstance(exc, ConnectionError | TimeoutError):
        return unreachable
    if isinstance(exc, PermissionError):
        return denied
    if isinstance(exc, FileNotFoundError):
        return not_found
    if any(word in lowered for word in unreachable_words):
        return unreachable
    if any(word in lowered for word in access_words) or re.search(r"\b40[13]\b", lowered):
        return denied
    if any(word in lowered for word in not_found_words):
        return not_found
    return f"{type(exc).__name__}: {text}"


class FsspecStorageBlock(StorageBlock):
    """A storage block backed by an fsspec file system; subclasses open the file system.

    Subclasses implement ``open_filesystem``, ``base_path`` and ``display_url``, and set
    ``required_library`` / ``install_hint`` so a missing SDK names the package to install.
    """

    #: The import name of the library ``open_filesystem`` needs (``s3fs``); checked first.
    required_library: ClassVar[str | None] = None
    #: What to install when it is missing, e.g. ``pip install acme-sluice-ftp``.
    install_hint: ClassVar[str | None] = None
    #: True for an object store (buckets, containers): it has no real folders, so none are made before
    #: a write (making one could even create a missing bucket, hiding a typo).
    object_store: ClassVar[bool] = False

    # -- what a subclass provides ----------------------------------------------------------------

    @abstractmethod
    def open_filesystem(self) -> AbstractFileSystem:
        """A new fsspec file system with this block's credentials and settings."""

    @abstractmethod
    def base_path(self) -> str:
        """The block's root inside the file system, as fsspec paths are written (``bucket/prefix``)."""

    @abstractmethod
    def display_url(self) -> str:
        """The block's root as a URL for humans (``s3://bucket/prefix``), without any secret."""

    def secret_values(self) -> list[str]:
        """Every secret this block holds, to be scrubbed from error messages."""
        values = []
        for name in self.secret_fields():
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values

    def missing_library_hint(self) -> str | None:
        """What to install when the file system's library is missing (default: ``install_hint``)."""
        return self.install_hint

    def creates_folders(self, filesystem: AbstractFileSystem) -> bool:
        """Whether parent folders must be made before writing: not for an ``object_store``."""
        return not self.object_store

    # -- error handling --------------------------------------------------------------------------

    def _scrub(self, message: str) -> str:
        for secret in sorted(self.secret_values(), key=len, reverse=True):
            if len(secret) >= 3:
                message = message.replace(secret, MASK)
        return strip_userinfo(message)

    def storage_error(self, reason: str, url: str | None = None) -> StorageError:
        """A ``StorageError`` naming this block (``s3/prod`` once saved) and ``url`` (default: the block's own)."""
        where = url or self.display_url()
        message = f"{self.display_name()} storage block ({self.slug_label()}) at {where}: {reason}"
        return StorageError(self._scrub(message))

    @contextmanager
    def _translated_errors(self, url: str | None = None) -> Iterator[None]:
        """Turn library exceptions into one ``StorageError``; Sluice's own errors pass through.

        Path checks raise ``ValueError`` before this context is entered, so any exception caught here
        comes from the library (smbprotocol, for one, raises ``ValueError`` for a refused connection).
        """
        try:
            yield
        except SluiceError:
            raise
        except ImportError as exc:
            hint = self.missing_library_hint()
            hint = f"; {hint}" if hint else ""
            raise self.storage_error(f"a library is missing: {exc}{hint}", url) from None
        except Exception as exc:
            raise self.storage_error(describe_library_error(exc), url) from None

    def make_folders(self, filesystem: AbstractFileSystem, path: str) -> None:
        """Create the folder ``path`` and its parents (only called when ``creates_folders``)."""
        filesystem.makedirs(path, exist_ok=True)

    def close_filesystem(self, filesystem: AbstractFileSystem) -> None:
        """Release what ``open_filesystem`` opened (connections, sessions); called after each method."""

    @contextmanager
    def _session(self, url: str | None = None) -> Iterator[AbstractFileSystem]:
        """Open the file system, translate its errors for ``url``, and close it afterwards."""
        if self.required_library:
            import importlib.util

            if importlib.util.find_spec(self.required_library) is None:
                hint = self.missing_library_hint() or f"pip install {self.required_library}"
                raise self.storage_error(f"the {self.required_library!r} library is not installed: {hint}", url)
        filesystem = None
        try:
            with self._translated_errors(url):
                filesystem = self.open_filesystem()
                yield filesystem
        finally:
            if filesystem is not None:
                try:
                    self.close_filesystem(filesystem)
                except Exception:  # closing is best effort; the operation's own outcome matters more
                    pass

    # -- paths -----------------------------------------------------------------------------------

    def _root(self, filesystem: AbstractFileSystem) -> str:
        return filesystem._strip_protocol(self.base_path()).rstrip("/")

    def _remote(self, filesystem: AbstractFileSystem, parts: list[str]) -> str:
        root = self._root(filesystem)
        return "/".join([root, *parts]) if parts else root

    def local_base(self, filesystem: AbstractFileSystem) -> Path | None:
        """The block's base with its symbolic links resolved when ``filesystem`` is this machine's
        disk (the folder every read and write must stay in), else None (an object store has no links)."""
        from sluice.file_tree import resolved

        if not _is_local_filesystem(filesystem):
            return None
        return resolved(self._root(filesystem) or "/")

    def _refuse_escape(self, base: Path | None, remote: str, relative: str, verb: str) -> None:
        """Raise a ``StorageError`` when ``remote`` resolves outside ``base`` (see ``local_base``)
        through a symbolic link; nothing to check without a base."""
        from sluice.file_tree import resolved

        if base is None:
            return
        real = resolved(remote)
        if not real.is_relative_to(base):
            how = "is a symlink to" if os.path.islink(remote) else "resolves through a symlink to"
            raise self.storage_error(
                f"refusing to {verb} {relative!r}: it {how} {str(real)!r}, outside the block's base {str(base)!r}",
                self.url_for(relative),
            )

    def url_for(self, path: str | None) -> str:
        """The URL of ``path`` under this block, for humans and return values."""
        parts = relative_parts(path)
        base = self.display_url().rstrip("/")
        return "/".join([base, *parts]) if parts else base

    # -- the four methods ------------------------------------------------------------------------

    def put_directory(
        self,
        local_path: str | Path = ".",
        to_path: str | None = None,
        ignore_file: str | Path | None = None,
        progress: Progress | None = None,
        follow_symlinks: bool = False,
    ) -> int:
        """Upload the tree at ``local_path`` under ``to_path``; return the number of files uploaded.

        ``ignore_file`` (gitignore syntax; default: the folder's ``.sluiceignore`` or
        ``.prefectignore``) leaves files out, as do ``.git``, ``__pycache__`` and virtual
        environments, always. A symbolic link that points outside ``local_path`` stops the upload
        before anything is sent, unless ``follow_symlinks`` asks for a copy of its target (see
        ``sluice.ignore.plan_upload``). ``progress(done, total)`` is called before the first file and
        after each.
        """
        from sluice.ignore import plan_upload

        parts = relative_parts(to_path)  # refuse an escaping destination before touching anything
        source = Path(local_path)
        plan = plan_upload(source, ignore_file, follow_symlinks)
        plan.check()
        files = plan.files
        total = len(files)
        if progress:
            progress(0, total)
        with self._session(self.url_for(to_path)) as filesystem:
            destination = self._remote(filesystem, parts)
            targets = [f"{destination}/{file.as_posix()}" if destination else file.as_posix() for file in files]
            self._refuse_escaping_targets(self.local_base(filesystem), targets, parts, files)
            make_folders = self.creates_folders(filesystem)
            made: set[str] = set()
            for done, (relative, target) in enumerate(zip(files, targets, strict=True), start=1):
                parent = target.rsplit("/", 1)[0]
                if make_folders and parent and parent not in made:
                    self.make_folders(filesystem, parent)
                    made.add(parent)
                filesystem.put_file(str(source / relative), target)
                if progress:
                    progress(done, total)
        return total

    def _refuse_escaping_targets(
        self, base: Path | None, targets: list[str], parts: list[str], files: list[Path]
    ) -> None:
        """Check every upload target before the first is written, so a refusal leaves nothing half-sent."""
        if base is None:
            return
        checked: set[str] = set()
        for relative, target in zip(files, targets, strict=True):
            parent = target.rsplit("/", 1)[0]
            # Resolving a folder once is enough; after that only the file itself could be a link.
            if parent not in checked or os.path.islink(target):
                self._refuse_escape(base, target, "/".join([*parts, relative.as_posix()]), "write")
                checked.add(parent)

    def get_directory(self, from_path: str | None = None, local_path: str | Path = ".") -> None:
        """Download every file under ``from_path`` (default: the whole block) into ``local_path``.

        On a file system of this machine, symbolic links in the block's folder are followed while they
        stay inside its base (a loop back to an enclosing folder is skipped); one that leads outside the
        base, or nowhere, stops the download with a ``StorageError`` before any file is written.
        """
        parts = relative_parts(from_path)
        target_root = Path(local_path).resolve()
        url = self.url_for(from_path)
        with self._session(url) as filesystem:
            source = self._remote(filesystem, parts)
            base = self.local_base(filesystem)
            if base is not None:
                self._download_local(source, base, parts, target_root)
                return
            found = [path for path in filesystem.find(source, withdirs=False) if not path.endswith("/")]
            if not found and not filesystem.exists(source):
                raise self.storage_error("not found: nothing is stored there", url)
            target_root.mkdir(parents=True, exist_ok=True)
            prefix = source.rstrip("/")
            for remote in found:
                relative = remote[len(prefix) :].lstrip("/") if remote.startswith(prefix) else ""
                target = self._local_target(target_root, relative or PurePosixPath(remote).name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(filesystem.cat_file(remote))

    def _download_local(self, source: str, base: Path, parts: list[str], target_root: Path) -> None:
        """``get_directory`` on this machine's disk: walk with the symlink rules, check, then copy."""
        import shutil

        from sluice.file_tree import LinkKind, walk_files

        shown = "/".join(parts)
        url = self.url_for(shown)
        self._refuse_escape(base, source, shown, "download")
        if not os.path.exists(source):
            raise self.storage_error("not found: nothing is stored there", url)
        if not os.path.isdir(source):
            files = [(Path(source), Path(source).name)]
        else:
            try:
                tree = walk_files(source, boundary=base)
            except UnsafeSymlinkError as exc:  # links that multiply: name the block too
                raise self.storage_error(str(exc), url) from None
            if tree.refused:
                link = tree.refused[0]
                reason = {
                    LinkKind.MISSING: "which does not exist",
                    LinkKind.SPECIAL: "which is not a regular file or folder",
                }.get(link.kind, f"outside the block's base {str(base)!r}")
                where = "/".join([*parts, link.path.as_posix()])
                raise self.storage_error(
                    f"refusing to download {where!r}: it is a symlink to {str(link.target)!r}, {reason}", url
                )
            files = [(Path(source, relative), relative) for relative in tree.files]
        target_root.mkdir(parents=True, exist_ok=True)
        for path, relative in files:
            target = self._local_target(target_root, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)

    def _local_target(self, target_root: Path, relative: str) -> Path:
        # A stored name could try to climb out of the target folder: check before writing.
        try:
            target = (target_root / Path(*relative_parts(relative))).resolve()
        except ValueError:
            target = None
        if target is None or not target.is_relative_to(target_root):
            raise self.storage_error(f"refusing to download {relative!r}: it would land outside {target_root}")
        return target

    def read_path(self, path: str) -> bytes:
        """The content of the file ``path`` (relative to the block's base)."""
        parts = relative_parts(path)
        if not parts:
            raise ValueError("read_path needs a file path, not the block's base")
        with self._session(self.url_for(path)) as filesystem:
            remote = self._remote(filesystem, parts)
            self._refuse_escape(self.local_base(filesystem), remote, "/".join(parts), "read")
            return filesystem.cat_file(remote)

    def write_path(self, path: str, content: bytes) -> str:
        """Write ``content`` to the file ``path`` (relative to the block's base); return its URL."""
        parts = relative_parts(path)
        if not parts:
            raise ValueError("write_path needs a file path, not the block's base")
        with self._session(self.url_for(path)) as filesystem:
            target = self._remote(filesystem, parts)
            self._refuse_escape(self.local_base(filesystem), target, "/".join(parts), "write")
            parent = target.rsplit("/", 1)[0]
            if self.creates_folders(filesystem) and parent:
                self.make_folders(filesystem, parent)
            filesystem.pipe_file(target, bytes(content))
        return self.url_for(path)
