"""Symbolic links in a folder being uploaded (sluice.ignore): which are uploaded, followed, copied,
skipped or refused, and how each refusal is worded."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluice.errors import ConfigurationError
from sluice.ignore import files_to_upload
from sluice_local.block import LocalFileSystem
from tests.storage.battery import read_tree, write_tree


def names(paths: list[Path]) -> list[str]:
    return [path.as_posix() for path in paths]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder: main.py and lib/util.py."""
    folder = tmp_path / "project"
    write_tree(folder, {"main.py": b"import lib.util\n", "lib/util.py": b"X = 1\n"})
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the project: secret.txt and data/table.csv."""
    folder = tmp_path / "outside"
    write_tree(folder, {"secret.txt": b"not for upload\n", "data/table.csv": b"a,b\n"})
    return folder


# -- links out of the project ----------------------------------------------------------------------


def test_a_file_link_out_of_the_project_is_refused_naming_the_link_its_target_and_the_way_out(
    project: Path, outside: Path
) -> None:
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(ConfigurationError) as caught:
        files_to_upload(project)
    assert str(caught.value) == (
        f"symlink 'leak.txt' points outside the project, to {str(outside / 'secret.txt')!r}: not uploaded. "
        "Add it to .sluiceignore to leave it out, or upload a copy of what it points to with "
        "--follow-symlinks (follow_symlinks=True in Python)"
    )


def test_a_folder_link_out_of_the_project_is_refused(project: Path, outside: Path) -> None:
    (project / "lib" / "data").symlink_to(outside / "data", target_is_directory=True)
    with pytest.raises(
        ConfigurationError, match=r"^symlink 'lib/data' points outside the project, to '.*/outside/data'"
    ):
        files_to_upload(project)


def test_the_refusal_counts_the_other_refused_links(project: Path, outside: Path) -> None:
    (project / "a.txt").symlink_to(outside / "secret.txt")
    (project / "b").symlink_to(outside / "data", target_is_directory=True)
    (project / "c.txt").symlink_to(outside / "gone.txt")
    with pytest.raises(ConfigurationError) as caught:
        files_to_upload(project)
    message = str(caught.value)
    assert message.startswith("symlink 'a.txt' points outside the project")
    assert message.endswith("; 2 more symlinks are refused (sluice deployment build --dry-run lists them)")
    assert "\n" not in message


def test_a_link_whose_target_does_not_exist_is_refused(project: Path, tmp_path: Path) -> None:
    (project / "dangling.py").symlink_to(project / "gone.py")
    with pytest.raises(ConfigurationError) as caught:
        files_to_upload(project)
    assert str(caught.value) == (
        f"symlink 'dangling.py' points to {str(project / 'gone.py')!r}, which does not exist: "
        "remove it or add it to .sluiceignore"
    )


def test_a_link_to_something_that_is_neither_file_nor_folder_is_refused_even_with_the_flag(project: Path) -> None:
    (project / "zeros").symlink_to("/dev/zero")
    with pytest.raises(ConfigurationError, match=r"'/dev/zero', which is not a regular file or folder"):
        files_to_upload(project, follow_symlinks=True)


def test_follow_symlinks_lists_what_outside_links_point_to(project: Path, outside: Path) -> None:
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    (project / "shared").symlink_to(outside / "data", target_is_directory=True)
    assert names(files_to_upload(project, follow_symlinks=True)) == [
        "leak.txt",
        "lib/util.py",
        "main.py",
        "shared/table.csv",
    ]


def test_ignore_patterns_apply_to_links_as_to_anything_else(project: Path, outside: Path) -> None:
    from sluice.ignore import plan_upload

    (project / ".sluiceignore").write_text("leak.txt\nshared/\n")
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    (project / "shared").symlink_to(outside / "data", target_is_directory=True)
    (project / ".venv").symlink_to(outside, target_is_directory=True)  # always left out, link or not
    assert names(files_to_upload(project)) == [".sluiceignore", "lib/util.py", "main.py"]
    assert plan_upload(project).links == []


# -- links inside the project ----------------------------------------------------------------------


def test_a_file_link_inside_the_project_is_uploaded_as_its_content(project: Path, tmp_path: Path) -> None:
    (project / "util_alias.py").symlink_to("lib/util.py")
    assert names(files_to_upload(project)) == ["lib/util.py", "main.py", "util_alias.py"]
    store = tmp_path / "store"
    LocalFileSystem(basepath=str(store)).put_directory(project)
    assert not (store / "util_alias.py").is_symlink()
    assert read_tree(store)["util_alias.py"] == b"X = 1\n"


def test_a_folder_link_inside_the_project_is_followed_under_its_own_name(project: Path) -> None:
    (project / "vendor").mkdir()
    (project / "vendor" / "lib").symlink_to("../lib", target_is_directory=True)
    assert names(files_to_upload(project)) == ["lib/util.py", "main.py", "vendor/lib/util.py"]


def test_a_link_to_a_folder_that_contains_it_is_skipped_as_a_loop(project: Path) -> None:
    from sluice.ignore import plan_upload

    (project / "lib" / "up").symlink_to("..", target_is_directory=True)
    plan = plan_upload(project)
    assert names(plan.files) == ["lib/util.py", "main.py"]
    (link,) = plan.links
    assert (link.path.as_posix(), link.shown_target, link.action) == ("lib/up", ".", "skipped")
    assert plan.refused == []


def test_a_loop_through_two_folder_links_ends(project: Path) -> None:
    write_tree(project, {"a/x.py": b"", "b/y.py": b""})
    (project / "a" / "to_b").symlink_to("../b", target_is_directory=True)
    (project / "b" / "to_a").symlink_to("../a", target_is_directory=True)
    assert names(files_to_upload(project)) == [
        "a/to_b/y.py",
        "a/x.py",
        "b/to_a/x.py",
        "b/y.py",
        "lib/util.py",
        "main.py",
    ]


def test_links_that_multiply_stop_the_walk_with_a_clear_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sluice import file_tree

    monkeypatch.setattr(file_tree, "MAX_FOLDER_LINKS", 100)  # the default, 10,000, takes seconds to reach
    # level0 -> level1 twice, level1 -> level2 twice…: 2**20 paths, no loop.
    for level in range(20):
        (project / f"level{level}").mkdir()
        for copy in ("a", "b"):
            (project / f"level{level}" / copy).symlink_to(f"../level{level + 1}", target_is_directory=True)
    (project / "level20").mkdir()
    with pytest.raises(ConfigurationError, match=r"^more than 100 symlinked folders to follow under '.*project'"):
        files_to_upload(project)


def test_a_project_reached_through_a_symlink_keeps_its_inside_links(project: Path, tmp_path: Path) -> None:
    (project / "util_alias.py").symlink_to(project / "lib" / "util.py")  # absolute, through the real path
    entrance = tmp_path / "entrance"
    entrance.symlink_to(project, target_is_directory=True)
    assert "util_alias.py" in names(files_to_upload(entrance))


# -- what the plan says about each link (what --dry-run shows) ---------------------------------------


def test_the_plan_describes_each_link_with_its_target_and_what_happens_to_it(project: Path, outside: Path) -> None:
    from sluice.ignore import describe_link, plan_upload

    (project / "alias.py").symlink_to("lib/util.py")
    (project / "vendor").symlink_to("lib", target_is_directory=True)
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    refused = {link.path.as_posix(): describe_link(link) for link in plan_upload(project).links}
    copied = {link.path.as_posix(): describe_link(link) for link in plan_upload(project, follow_symlinks=True).links}
    assert refused == {
        "alias.py": "file link inside the project: uploaded as its content",
        "leak.txt": "file link outside the project: refused",
        "vendor": "folder link inside the project: followed",
    }
    assert copied["leak.txt"] == "file link outside the project: copied (--follow-symlinks)"


# -- local storage whose folder is the project itself ------------------------------------------------


def test_uploading_the_local_base_onto_itself_still_refuses_outside_links(
    project: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    monkeypatch.chdir(project)
    with pytest.raises(ConfigurationError, match=r"symlink 'leak\.txt' points outside the project"):
        LocalFileSystem().put_directory(".")


def test_uploading_the_local_base_onto_itself_cannot_copy_outside_links(
    project: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    monkeypatch.chdir(project)
    with pytest.raises(ConfigurationError) as caught:
        LocalFileSystem().put_directory(".", follow_symlinks=True)
    assert str(caught.value) == (
        "cannot copy symlink 'leak.txt' (it points outside the project): the project is the storage "
        "block's own folder, so the link would stay a link and runs would refuse it. Replace it with a "
        "copy of its target, or give the block another basepath"
    )
