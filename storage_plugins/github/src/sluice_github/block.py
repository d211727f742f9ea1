"""``GitHub``: a deployment's code pulled from a git repository at a branch, tag or commit (read-only)."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import SecretStr, field_validator

from sluice.storage import MASK, Progress, StorageBlock, StorageError, relative_parts, strip_userinfo

#: Seconds a single git command may take before the pull is abandoned.
GIT_TIMEOUT_SECONDS = 300


class GitHub(StorageBlock):
    """Pull deployment code from a git repository (GitHub or any git server); code is pushed with git.

    ``repository`` is an ``https://`` URL (``http://`` and ``git://`` are accepted too, for local
    servers). ``reference`` is a branch, a tag or a commit; the default branch when empty.
    ``access_token`` is sent in an HTTP ``Authorization`` header, never in the URL.
    """

    block_type_slug: ClassVar[str] = "github"
    block_type_name: ClassVar[str | None] = "GitHub"
    block_capabilities: ClassVar[tuple[str, ...]] = ("get-directory", "read-path")

    repository: str
    reference: str | None = None
    access_token: SecretStr | None = None
    include_git_objects: bool = True

    @field_validator("repository")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://", "git://")):
            raise ValueError(f"repository {value!r} must be an https:// URL (http:// and git:// also work)")
        if strip_userinfo(value) != value:
            raise ValueError("put the credentials in access_token, not in the repository URL")
        return value

    # -- the read side ---------------------------------------------------------------------------

    def get_directory(self, from_path: str | None = None, local_path: str | Path = ".") -> None:
        """Shallow-clone ``reference`` and copy the repository (or its ``from_path`` folder) into ``local_path``.

        ``.git`` is copied too when ``include_git_objects`` and the whole repository is asked for.
        """
        parts = relative_parts(from_path)
        target = Path(local_path)
        with tempfile.TemporaryDirectory(prefix="sluice-github-") as scratch:
            checkout = Path(scratch) / "repository"
            self._clone(checkout)
            source = checkout.joinpath(*parts)
            if not source.is_dir():
                raise self._error(f"{'/'.join(parts)!r} is not a folder of the repository")
            skip_git = not self.include_git_objects or bool(parts)
            ignore = shutil.ignore_patterns(".git") if skip_git else None
            shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True, symlinks=True)

    def read_path(self, path: str) -> bytes:
        """The content of one file of the repository at ``reference``."""
        parts = relative_parts(path)
        if not parts:
            raise ValueError("read_path needs a file path, not the repository root")
        with tempfile.TemporaryDirectory(prefix="sluice-github-") as scratch:
            checkout = Path(scratch) / "repository"
            self._clone(checkout)
            file = checkout.joinpath(*parts)
            if not file.is_file():
                raise self._error(f"no file {'/'.join(parts)!r} in the repository")
            return file.read_bytes()

    # -- the write side: refused -----------------------------------------------------------------

    def put_directory(
        self,
        local_path: str | Path = ".",
        to_path: str | None = None,
        ignore_file: str | Path | None = None,
        progress: Progress | None = None,
        follow_symlinks: bool = False,
    ) -> int:
        """Refused: a git repository's code is pushed with git (commit and push), not uploaded."""
        raise self._read_only()

    def write_path(self, path: str, content: bytes) -> str:
        """Refused: a git repository's code is pushed with git (commit and push), not uploaded."""
        raise self._read_only()

    def _read_only(self) -> StorageError:
        return self._error(
            "this block is read-only: commit your code and `git push` it to the repository; "
            "deployments using it skip the upload step"
        )

    # -- git -------------------------------------------------------------------------------------

    def _error(self, reason: str) -> StorageError:
        where = self.repository + (f" @ {self.reference}" if self.reference else "")
        message = f"{self.display_name()} storage block ({self.slug_label()}) at {where}: {reason}"
        token = self.access_token.get_secret_value() if self.access_token else ""
        if token:
            message = message.replace(token, MASK).replace(self._auth_header_value(), MASK)
        return StorageError(message)

    def _auth_header_value(self) -> str:
        # GitHub's git over HTTPS takes the token as the password of HTTP Basic auth, with any user
        # name; "x-access-token" is the one GitHub's own tooling uses.
        token = self.access_token.get_secret_value() if self.access_token else ""
        return "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()

    def _git_environment(self) -> dict[str, str]:
        environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "LC_ALL": "C"}
        if self.access_token is not None and self.access_token.get_secret_value():
            # The same as `git -c http.extraHeader=...`, but through the environment so the token
            # appears neither in the URL nor in the command line other users can see with `ps`.
            environment.update(
                {
                    "GIT_CONFIG_COUNT": "1",
                    "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: {self._auth_header_value()}",
                }
            )
        return environment

    def _git(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        if shutil.which("git") is None:
            raise self._error("the `git` command is not installed; install git (e.g. `apt-get install git`)")
        try:
            return subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self._git_environment(),
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise self._error(f"git {args[0]} took more than {GIT_TIMEOUT_SECONDS} s") from None

    def _clone(self, checkout: Path) -> None:
        """A shallow clone of ``reference`` into ``checkout``; a commit is fetched by its sha."""
        command = ["clone", "--quiet", "--depth", "1"]
        if self.reference:
            command += ["--branch", self.reference]
        result = self._git(*command, "--", self.repository, str(checkout))
        if result.returncode == 0:
            return
        if self.reference and _looks_like_commit(self.reference) and _reference_not_found(result.stderr):
            self._fetch_commit(checkout)
            return
        raise self._error(_describe_git_failure(result.stderr))

    def _fetch_commit(self, checkout: Path) -> None:
        shutil.rmtree(checkout, ignore_errors=True)
        checkout.mkdir(parents=True)
        assert self.reference is not None
        steps = [
            ("init", "--quiet"),
            ("remote", "add", "origin", self.repository),
            ("fetch", "--quiet", "--depth", "1", "origin", self.reference),
            ("checkout", "--quiet", "FETCH_HEAD"),
        ]
        for step in steps:
            result = self._git(*step, cwd=checkout)
            if result.returncode != 0:
                raise self._error(_describe_git_failure(result.stderr))


def _looks_like_commit(reference: str) -> bool:
    return 7 <= len(reference) <= 64 and all(character in "0123456789abcdefABCDEF" for character in reference)


def _reference_not_found(stderr: str) -> bool:
    return "not found in upstream" in stderr or "Remote branch" in stderr


def _describe_git_failure(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = "; ".join(line.removeprefix("fatal: ").removeprefix("error: ") for line in lines[-2:]) or "git failed"
    lowered = detail.lower()
    if "authentication" in lowered or "401" in lowered or "403" in lowered or "could not read username" in lowered:
        return f"access denied: {detail} — check access_token"
    if "not found in upstream" in lowered or "couldn't find remote ref" in lowered or "not our ref" in lowered:
        return f"reference not found: {detail} — check the branch, tag or commit"
    if "could not connect" in lowered or "connection refused" in lowered or "unable to connect" in lowered:
        return f"cannot reach the server: {detail}"
    if "not found" in lowered or "does not appear to be a git repository" in lowered:
        return f"repository not found: {detail} — check the URL (and access_token for a private one)"
    return detail
