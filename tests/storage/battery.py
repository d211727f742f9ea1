"""The behaviour every writable storage block must have, run by each plugin against its real server.

A plugin's test module subclasses ``StorageBattery`` and provides two fixtures: ``block`` (a block
whose base is fresh for each test, so tests never see each other's files) and, when the block holds
secrets, ``secrets`` (their values).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sluice.blocks import StorageBlock
from sluice.errors import ConfigurationError, StorageError

#: What ``put_directory`` must upload from ``source_tree``, and the exact bytes of each file.
EXPECTED_FILES: dict[str, bytes] = {
    ".sluiceignore": b"*.log\n!keep.log\nbuild/\n",
    "empty.txt": b"",
    "keep.log": b"kept despite *.log\n",
    "flows/hello.py": b"print('hello')\n",
    "flows/data/nested/deep.bin": bytes(range(256)) * 4,
}

#: Files that must never be uploaded: ignored by pattern, or in an always-excluded folder.
LEFT_OUT_FILES: dict[str, bytes] = {
    "debug.log": b"ignored by *.log\n",
    "build/output.txt": b"ignored by build/\n",
    ".git/config": b"[core]\n",
    "__pycache__/hello.cpython-311.pyc": b"\x00pyc",
    "flows/__pycache__/hello.cpython-311.pyc": b"\x00pyc",
    ".venv/bin/python": b"#!venv\n",
    "venv/lib/site.py": b"# venv\n",
    "my-env/pyvenv.cfg": b"home = /usr/bin\n",
    "my-env/lib/site.py": b"# any folder with pyvenv.cfg\n",
}

ESCAPING_PATHS = ["../outside.txt", "a/../../outside.txt", "/etc/passwd", "..", "C:/Windows/x"]


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    """Create ``files`` (relative path -> bytes) under ``root``."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` as relative POSIX path -> bytes."""
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()}


class StorageBattery:
    """Tests shared by every writable storage block; subclasses provide the ``block`` fixture."""

    @pytest.fixture
    def source_tree(self, tmp_path: Path) -> Path:
        """A project folder with files to upload, ignored files and always-excluded folders."""
        root = tmp_path / "project"
        write_tree(root, {**EXPECTED_FILES, **LEFT_OUT_FILES})
        return root

    @pytest.fixture
    def secrets(self) -> list[str]:
        """Secret values the block holds (none by default)."""
        return []

    def test_put_directory_returns_the_number_of_files_uploaded(self, block: StorageBlock, source_tree: Path) -> None:
        assert block.put_directory(source_tree, "upload") == len(EXPECTED_FILES)

    def test_put_then_get_directory_round_trips_exactly_the_uploaded_bytes(
        self, block: StorageBlock, source_tree: Path, tmp_path: Path
    ) -> None:
        block.put_directory(source_tree, "upload")
        block.get_directory("upload", tmp_path / "back")
        assert read_tree(tmp_path / "back") == EXPECTED_FILES

    def test_ignored_files_and_always_excluded_folders_are_not_uploaded(
        self, block: StorageBlock, source_tree: Path, tmp_path: Path
    ) -> None:
        block.put_directory(source_tree, "upload")
        block.get_directory("upload", tmp_path / "back")
        downloaded = read_tree(tmp_path / "back")
        assert not set(LEFT_OUT_FILES) & set(downloaded)

    def test_an_explicit_ignore_file_replaces_the_folders_own(
        self, block: StorageBlock, source_tree: Path, tmp_path: Path
    ) -> None:
        other = tmp_path / "other.ignore"
        other.write_text("flows/\n*.txt\n")
        count = block.put_directory(source_tree, "explicit", ignore_file=other)
        block.get_directory("explicit", tmp_path / "back")
        expected = {".sluiceignore", "keep.log", "debug.log"}  # *.txt drops build/output.txt too
        assert count == len(expected)
        assert set(read_tree(tmp_path / "back")) == expected

    def test_get_directory_of_a_sub_path_downloads_only_that_folder(
        self, block: StorageBlock, source_tree: Path, tmp_path: Path
    ) -> None:
        block.put_directory(source_tree, "upload")
        block.get_directory("upload/flows", tmp_path / "flows")
        assert read_tree(tmp_path / "flows") == {
            "hello.py": EXPECTED_FILES["flows/hello.py"],
            "data/nested/deep.bin": EXPECTED_FILES["flows/data/nested/deep.bin"],
        }

    def test_put_directory_to_the_base_and_get_it_back(
        self, block: StorageBlock, source_tree: Path, tmp_path: Path
    ) -> None:
        block.put_directory(source_tree)
        block.get_directory(local_path=tmp_path / "back")
        assert read_tree(tmp_path / "back") == EXPECTED_FILES

    def test_write_path_then_read_path_returns_the_same_bytes(self, block: StorageBlock) -> None:
        content = b"\x00\xffbinary and text\n" * 10
        location = block.write_path("notes/deep/file.bin", content)
        assert location.endswith("notes/deep/file.bin")
        assert block.read_path("notes/deep/file.bin") == content

    def test_write_path_overwrites_an_existing_file(self, block: StorageBlock) -> None:
        block.write_path("file.txt", b"first")
        block.write_path("file.txt", b"second")
        assert block.read_path("file.txt") == b"second"

    def test_reading_a_missing_file_is_a_storage_error_naming_the_block(self, block: StorageBlock) -> None:
        with pytest.raises(StorageError) as caught:
            block.read_path("no/such/file.txt")
        message = str(caught.value)
        assert block.display_name() in message
        assert "no/such/file.txt" in message
        assert "\n" not in message

    @pytest.mark.parametrize("path", ESCAPING_PATHS)
    def test_paths_escaping_the_base_are_refused(self, block: StorageBlock, path: str, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"absolute|escapes"):
            block.read_path(path)
        with pytest.raises(ValueError, match=r"absolute|escapes"):
            block.write_path(path, b"x")
        with pytest.raises(ValueError, match=r"absolute|escapes"):
            block.put_directory(tmp_path, path)
        with pytest.raises(ValueError, match=r"absolute|escapes"):
            block.get_directory(path, tmp_path / "out")

    def test_progress_is_reported_for_every_file(self, block: StorageBlock, source_tree: Path) -> None:
        calls: list[tuple[int, int]] = []
        block.put_directory(source_tree, "upload", progress=lambda done, total: calls.append((done, total)))
        total = len(EXPECTED_FILES)
        assert calls == [(done, total) for done in range(total + 1)]

    # -- symlinks in the uploaded folder ---------------------------------------------------------

    @pytest.fixture
    def outside(self, tmp_path: Path) -> Path:
        """A folder next to the project, with a secret file and a sub-folder."""
        folder = tmp_path / "outside"
        write_tree(folder, {"secret.txt": b"not for upload\n", "data/table.csv": b"a,b\n"})
        return folder

    def test_upload_refuses_a_symlink_out_of_the_project_and_uploads_nothing(
        self, block: StorageBlock, source_tree: Path, outside: Path, tmp_path: Path
    ) -> None:
        (source_tree / "leak.txt").symlink_to(outside / "secret.txt")
        with pytest.raises(ConfigurationError, match=r"symlink 'leak.txt' points outside the project"):
            block.put_directory(source_tree, "refused")
        with pytest.raises(StorageError):
            block.get_directory("refused", tmp_path / "back")

    def test_a_symlinked_folder_inside_the_project_is_uploaded_under_its_name(
        self, block: StorageBlock, source_tree: Path, tmp_path: Path
    ) -> None:
        (source_tree / "alias").symlink_to("flows", target_is_directory=True)
        (source_tree / "hello-again.py").symlink_to("flows/hello.py")
        block.put_directory(source_tree, "linked")
        block.get_directory("linked", tmp_path / "back")
        downloaded = read_tree(tmp_path / "back")
        assert downloaded["alias/hello.py"] == downloaded["hello-again.py"] == EXPECTED_FILES["flows/hello.py"]
        assert downloaded["alias/data/nested/deep.bin"] == EXPECTED_FILES["flows/data/nested/deep.bin"]

    def test_follow_symlinks_uploads_a_copy_of_what_outside_links_point_to(
        self, block: StorageBlock, source_tree: Path, outside: Path, tmp_path: Path
    ) -> None:
        (source_tree / "leak.txt").symlink_to(outside / "secret.txt")
        (source_tree / "shared").symlink_to(outside / "data", target_is_directory=True)
        count = block.put_directory(source_tree, "copied", follow_symlinks=True)
        block.get_directory("copied", tmp_path / "back")
        downloaded = read_tree(tmp_path / "back")
        assert count == len(EXPECTED_FILES) + 2
        assert downloaded["leak.txt"] == b"not for upload\n" and downloaded["shared/table.csv"] == b"a,b\n"

    def test_secrets_are_masked_in_repr_and_data(self, block: StorageBlock, secrets: list[str]) -> None:
        shown = [repr(block), str(block), json.dumps(block.data()), json.dumps(block.block_schema())]
        for secret in secrets:
            for text in shown:
                assert secret not in text
            assert secret in json.dumps(block.data(include_secrets=True))
