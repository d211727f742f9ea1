"""Symbolic links inside a storage block's folder on this machine: no read, write, upload or download
resolves outside the block's base. Run for local-file-system and for remote-file-system on file://."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.blocks import StorageBlock
from sluice.errors import StorageError
from sluice_local.block import LocalFileSystem
from sluice_remote_fs.block import RemoteFileSystem
from tests.storage.battery import read_tree, write_tree


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The block's folder: code/main.py and shared/util.py."""
    folder = tmp_path / "store"
    write_tree(folder, {"code/main.py": b"print(1)\n", "shared/util.py": b"X = 1\n"})
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the store: secret.txt."""
    folder = tmp_path / "outside"
    write_tree(folder, {"secret.txt": b"private\n"})
    return folder


@pytest.fixture(params=["local-file-system", "remote-file-system"])
def block(request: pytest.FixtureRequest, store: Path) -> StorageBlock:
    if request.param == "local-file-system":
        return LocalFileSystem(basepath=str(store))
    return RemoteFileSystem(basepath=f"file://{store}")


# -- downloads -------------------------------------------------------------------------------------


def test_get_directory_follows_a_symlinked_folder_inside_the_base(
    block: StorageBlock, store: Path, tmp_path: Path
) -> None:
    (store / "code" / "shared").symlink_to("../shared", target_is_directory=True)
    (store / "code" / "util_alias.py").symlink_to(store / "shared" / "util.py")
    block.get_directory("code", tmp_path / "back")
    assert read_tree(tmp_path / "back") == {
        "main.py": b"print(1)\n",
        "shared/util.py": b"X = 1\n",
        "util_alias.py": b"X = 1\n",
    }


def test_get_directory_refuses_a_symlink_resolving_outside_the_base_and_writes_nothing(
    block: StorageBlock, store: Path, outside: Path, tmp_path: Path
) -> None:
    (store / "code" / "private").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StorageError) as caught:
        block.get_directory("code", tmp_path / "back")
    assert str(caught.value).endswith(
        f"refusing to download 'code/private': it is a symlink to {str(outside)!r}, outside the block's base "
        f"{str(store)!r}"
    )
    assert not (tmp_path / "back").exists() or read_tree(tmp_path / "back") == {}


def test_get_directory_of_a_sub_path_that_is_a_symlink_out_of_the_base_is_refused(
    block: StorageBlock, store: Path, outside: Path, tmp_path: Path
) -> None:
    (store / "elsewhere").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StorageError, match=r"refusing to download 'elsewhere': it is a symlink to"):
        block.get_directory("elsewhere", tmp_path / "back")


def test_get_directory_skips_a_symlink_to_a_folder_that_contains_it(
    block: StorageBlock, store: Path, tmp_path: Path
) -> None:
    (store / "code" / "again").symlink_to(".", target_is_directory=True)
    block.get_directory("code", tmp_path / "back")
    assert read_tree(tmp_path / "back") == {"main.py": b"print(1)\n"}


def test_get_directory_refuses_a_symlink_whose_target_is_missing(
    block: StorageBlock, store: Path, tmp_path: Path
) -> None:
    (store / "code" / "gone.py").symlink_to(store / "nowhere.py")
    with pytest.raises(StorageError, match=r"refusing to download 'code/gone.py': it is a symlink to .*does not exist"):
        block.get_directory("code", tmp_path / "back")


# -- single files ----------------------------------------------------------------------------------


def test_read_path_refuses_a_path_through_a_symlinked_folder_out_of_the_base(
    block: StorageBlock, store: Path, outside: Path
) -> None:
    (store / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StorageError) as caught:
        block.read_path("link/secret.txt")
    assert str(caught.value).endswith(
        f"refusing to read 'link/secret.txt': it resolves through a symlink to "
        f"{str(outside / 'secret.txt')!r}, outside the block's base {str(store)!r}"
    )


def test_read_path_follows_a_symlink_inside_the_base(block: StorageBlock, store: Path) -> None:
    (store / "code" / "lib").symlink_to("../shared", target_is_directory=True)
    assert block.read_path("code/lib/util.py") == b"X = 1\n"


def test_write_path_refuses_a_path_through_a_symlinked_folder_out_of_the_base(
    block: StorageBlock, store: Path, outside: Path
) -> None:
    (store / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StorageError, match=r"refusing to write 'link/new/file.txt': it resolves through a symlink"):
        block.write_path("link/new/file.txt", b"x")
    assert sorted(path.name for path in outside.iterdir()) == ["secret.txt"]


def test_write_path_refuses_to_overwrite_a_file_symlink_out_of_the_base(
    block: StorageBlock, store: Path, outside: Path
) -> None:
    (store / "notes.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(StorageError, match=r"refusing to write 'notes.txt'"):
        block.write_path("notes.txt", b"overwritten")
    assert (outside / "secret.txt").read_bytes() == b"private\n"


def test_put_directory_refuses_a_destination_through_a_symlink_out_of_the_base(
    block: StorageBlock, store: Path, outside: Path, tmp_path: Path
) -> None:
    write_tree(tmp_path / "project", {"main.py": b"x = 1\n"})
    (store / "team").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StorageError, match=r"refusing to write 'team/main.py': it resolves through a symlink"):
        block.put_directory(tmp_path / "project", "team")
    assert sorted(path.name for path in outside.iterdir()) == ["secret.txt"]


def test_put_directory_refuses_a_stored_file_symlink_out_of_the_base_before_writing_anything(
    block: StorageBlock, store: Path, outside: Path, tmp_path: Path
) -> None:
    write_tree(tmp_path / "project", {"a.py": b"new a\n", "secret.txt": b"new secret\n"})
    (store / "team").mkdir()
    (store / "team" / "secret.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(StorageError, match=r"refusing to write 'team/secret.txt': it is a symlink to"):
        block.put_directory(tmp_path / "project", "team")
    assert (outside / "secret.txt").read_bytes() == b"private\n"
    assert not (store / "team" / "a.py").exists()


def test_a_base_folder_that_is_itself_a_symlink_works(store: Path, tmp_path: Path) -> None:
    entrance = tmp_path / "entrance"
    entrance.symlink_to(store, target_is_directory=True)
    for block in (LocalFileSystem(basepath=str(entrance)), RemoteFileSystem(basepath=f"file://{entrance}")):
        block.write_path("new.txt", b"y")
        assert block.read_path("code/main.py") == b"print(1)\n"
        block.get_directory("code", tmp_path / block.block_type_slug)
        assert read_tree(tmp_path / block.block_type_slug) == {"main.py": b"print(1)\n"}
