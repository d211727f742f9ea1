"""Choosing the ignore file and listing the files an upload sends (sluice.ignore)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.errors import ConfigurationError
from sluice.ignore import files_to_upload, find_ignore_file
from tests.storage.battery import EXPECTED_FILES, LEFT_OUT_FILES, write_tree


def names(paths: list[Path]) -> list[str]:
    return [path.as_posix() for path in paths]


def test_files_to_upload_honours_patterns_and_always_excluded_folders(tmp_path: Path) -> None:
    write_tree(tmp_path, {**EXPECTED_FILES, **LEFT_OUT_FILES})
    assert names(files_to_upload(tmp_path)) == sorted(EXPECTED_FILES)


def test_sluiceignore_wins_over_prefectignore(tmp_path: Path) -> None:
    write_tree(tmp_path, {".sluiceignore": b"a.txt\n", ".prefectignore": b"b.txt\n", "a.txt": b"", "b.txt": b""})
    assert find_ignore_file(tmp_path) == tmp_path / ".sluiceignore"
    assert names(files_to_upload(tmp_path)) == [".prefectignore", ".sluiceignore", "b.txt"]


def test_prefectignore_is_the_fallback(tmp_path: Path) -> None:
    write_tree(tmp_path, {".prefectignore": b"b.txt\n", "a.txt": b"", "b.txt": b""})
    assert names(files_to_upload(tmp_path)) == [".prefectignore", "a.txt"]


def test_no_ignore_file_uploads_everything_but_the_always_excluded(tmp_path: Path) -> None:
    write_tree(tmp_path, {"a.txt": b"", ".git/HEAD": b"", "pkg/__pycache__/m.pyc": b"", "env/pyvenv.cfg": b""})
    assert find_ignore_file(tmp_path) is None
    assert names(files_to_upload(tmp_path)) == ["a.txt"]


def test_an_explicit_ignore_file_is_looked_up_in_the_folder_too(tmp_path: Path, monkeypatch) -> None:
    write_tree(tmp_path / "project", {"custom.ignore": b"*.md\n", "README.md": b"", "main.py": b""})
    monkeypatch.chdir(tmp_path)
    assert names(files_to_upload(tmp_path / "project", "custom.ignore")) == ["custom.ignore", "main.py"]


def test_a_named_ignore_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"ignore file 'missing\.ignore' not found"):
        files_to_upload(tmp_path, "missing.ignore")


def test_uploading_something_that_is_not_a_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a folder"):
        files_to_upload(tmp_path / "nope")


def test_negation_and_anchored_patterns_follow_gitignore(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".sluiceignore": b"# comment\n/top.txt\ndata/*\n!data/keep.csv\n",
            "top.txt": b"",
            "sub/top.txt": b"",
            "data/drop.csv": b"",
            "data/keep.csv": b"",
        },
    )
    assert names(files_to_upload(tmp_path)) == [".sluiceignore", "data/keep.csv", "sub/top.txt"]
