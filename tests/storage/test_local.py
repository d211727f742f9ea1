"""The local-file-system block (sluice-local) against a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice_local.block import LocalFileSystem
from tests.storage.battery import StorageBattery


class TestLocalFileSystem(StorageBattery):
    @pytest.fixture
    def block(self, tmp_path: Path) -> LocalFileSystem:
        return LocalFileSystem(basepath=str(tmp_path / "store"))


def test_basepath_defaults_to_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    location = LocalFileSystem().write_path("a.txt", b"x")
    assert Path(location) == tmp_path.resolve() / "a.txt"
    assert (tmp_path / "a.txt").read_bytes() == b"x"


def test_basepath_expands_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    LocalFileSystem(basepath="~/store").write_path("a.txt", b"x")
    assert (tmp_path / "store" / "a.txt").read_bytes() == b"x"


def test_dot_dot_cannot_reach_a_file_next_to_the_base(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    block = LocalFileSystem(basepath=str(tmp_path / "store"))
    with pytest.raises(ValueError, match="escapes"):
        block.read_path("sub/../../secret.txt")


def test_uploading_the_base_folder_onto_itself_copies_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "flow.py").write_text("x = 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "flow.pyc").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert LocalFileSystem().put_directory(".") == 1
    assert (tmp_path / "flow.py").read_text() == "x = 1\n"
