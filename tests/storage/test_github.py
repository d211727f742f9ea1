"""The github block (sluice-github) against ``git daemon`` and a git HTTP server that checks a token."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sluice.errors import StorageError
from sluice_github.block import GitHub
from tests.storage.battery import ESCAPING_PATHS, read_tree
from tests.storage.conftest import GitServer

pytestmark = pytest.mark.service


def test_get_directory_clones_the_default_branch(git_server: GitServer, tmp_path: Path) -> None:
    GitHub(repository=git_server.daemon_url).get_directory(local_path=tmp_path)
    assert (tmp_path / "flows" / "hello.py").read_text() == "VERSION = 'v2'\n"
    assert (tmp_path / "flows" / "data" / "blob.bin").read_bytes() == bytes(range(256))
    assert (tmp_path / "empty.txt").read_bytes() == b""
    assert (tmp_path / ".git").is_dir()


@pytest.mark.parametrize(
    ("reference", "version", "has_feature"),
    [("main", "v2", False), ("v1", "v1", False), ("feature", "v1", True)],
)
def test_get_directory_checks_out_a_branch_or_a_tag(
    git_server: GitServer, tmp_path: Path, reference: str, version: str, has_feature: bool
) -> None:
    GitHub(repository=git_server.daemon_url, reference=reference).get_directory(local_path=tmp_path)
    assert (tmp_path / "flows" / "hello.py").read_text() == f"VERSION = '{version}'\n"
    assert (tmp_path / "flows" / "feature.py").exists() is has_feature


def test_get_directory_fetches_a_commit_by_its_sha(git_server: GitServer, tmp_path: Path) -> None:
    GitHub(repository=git_server.daemon_url, reference=git_server.first_commit).get_directory(local_path=tmp_path)
    assert (tmp_path / "flows" / "hello.py").read_text() == "VERSION = 'v1'\n"


def test_the_clone_is_shallow(git_server: GitServer, tmp_path: Path) -> None:
    GitHub(repository=git_server.daemon_url).get_directory(local_path=tmp_path)
    assert (tmp_path / ".git" / "shallow").is_file()


def test_include_git_objects_false_leaves_dot_git_out(git_server: GitServer, tmp_path: Path) -> None:
    GitHub(repository=git_server.daemon_url, include_git_objects=False).get_directory(local_path=tmp_path)
    assert not (tmp_path / ".git").exists()
    assert (tmp_path / "flows" / "hello.py").exists()


def test_get_directory_of_a_sub_folder(git_server: GitServer, tmp_path: Path) -> None:
    GitHub(repository=git_server.daemon_url).get_directory("flows", tmp_path)
    assert set(read_tree(tmp_path)) == {"hello.py", "data/blob.bin"}


def test_read_path_reads_one_file_at_the_reference(git_server: GitServer) -> None:
    assert GitHub(repository=git_server.daemon_url, reference="v1").read_path("flows/hello.py") == b"VERSION = 'v1'\n"


def test_an_unknown_reference_is_one_clear_error(git_server: GitServer, tmp_path: Path) -> None:
    block = GitHub(repository=git_server.daemon_url, reference="no-such-branch")
    expected = r"GitHub storage block \(github\) at .* @ no-such-branch: reference not found"
    with pytest.raises(StorageError, match=expected):
        block.get_directory(local_path=tmp_path)


def test_the_access_token_is_sent_in_an_authorization_header(git_server: GitServer, tmp_path: Path) -> None:
    block = GitHub(repository=git_server.http_url, reference="v1", access_token=git_server.token)
    block.get_directory(local_path=tmp_path)
    assert (tmp_path / "flows" / "hello.py").read_text() == "VERSION = 'v1'\n"
    expected = "Basic " + base64.b64encode(f"x-access-token:{git_server.token}".encode()).decode()
    assert expected in git_server.seen_authorization
    assert git_server.token not in (tmp_path / ".git" / "config").read_text()


def test_a_missing_or_wrong_token_is_access_denied_without_the_token(git_server: GitServer, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="access denied"):
        GitHub(repository=git_server.http_url).get_directory(local_path=tmp_path / "none")
    block = GitHub(repository=git_server.http_url, access_token="wrong-git-token-value")
    with pytest.raises(StorageError) as caught:
        block.get_directory(local_path=tmp_path / "wrong")
    assert "access denied" in str(caught.value)
    assert "wrong-git-token-value" not in str(caught.value)


def test_put_directory_and_write_path_explain_that_code_is_pushed_with_git(tmp_path: Path) -> None:
    block = GitHub(repository="https://github.com/example/flows")
    with pytest.raises(StorageError, match=r"read-only: commit your code and `git push` it"):
        block.put_directory(tmp_path)
    with pytest.raises(StorageError, match="read-only"):
        block.write_path("a.txt", b"x")


@pytest.mark.parametrize("path", ESCAPING_PATHS)
def test_paths_escaping_the_repository_are_refused(path: str, tmp_path: Path) -> None:
    block = GitHub(repository="https://github.com/example/flows")
    with pytest.raises(ValueError, match=r"absolute|escapes"):
        block.get_directory(path, tmp_path)
    with pytest.raises(ValueError, match=r"absolute|escapes"):
        block.read_path(path)


def test_the_token_is_masked_and_never_in_the_url() -> None:
    block = GitHub(repository="https://github.com/example/flows", access_token="ghp_secret_token_value")
    assert "ghp_secret_token_value" not in repr(block) + json.dumps(block.data())
    with pytest.raises(ValueError, match="access_token"):
        GitHub(repository="https://user:ghp_x@github.com/example/flows")


def test_only_http_https_and_git_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="https://"):
        GitHub(repository="file:///etc")
