"""Symbolic links on the way of a deployment's code: ``deployment build`` (with ``--dry-run`` and
``--follow-symlinks``), ``deployment apply --upload``, the Python API, and a run whose storage folder
holds symlinks. In-process, on the embedded API, with a ``local-file-system`` block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sluice.cli import build_app

FLOW = """from sluice import flow


@flow
def say_hi():
    return "hi"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """flows/marvin.py and lib/util.py, made the current folder."""
    folder = tmp_path / "project"
    (folder / "flows").mkdir(parents=True)
    (folder / "lib").mkdir()
    (folder / "flows" / "marvin.py").write_text(FLOW)
    (folder / "lib" / "util.py").write_text("GREETING = 'hi'\n")
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the project: secret.txt and data/table.csv."""
    folder = tmp_path / "outside"
    (folder / "data").mkdir(parents=True)
    (folder / "secret.txt").write_text("private\n")
    (folder / "data" / "table.csv").write_text("a,b\n")
    return folder


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The folder of the saved block ``local-file-system/shared``."""
    from sluice.filesystems import LocalFileSystem

    folder = tmp_path / "store"
    LocalFileSystem(basepath=str(folder)).save("shared")
    return folder


def sluice(*args: str) -> Any:
    """Run the CLI in-process; returns the click Result."""
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


def build(*extra: str) -> Any:
    return sluice("deployment", "build", "flows/marvin.py:say_hi", "-n", "m", "-q", "test", *extra)


def stored_files(store: Path) -> list[str]:
    return sorted(path.relative_to(store).as_posix() for path in store.rglob("*") if path.is_file())


# -- build -----------------------------------------------------------------------------------------


def test_build_refuses_a_symlink_out_of_the_project_in_one_line_and_changes_nothing(
    project: Path, outside: Path, store: Path
) -> None:
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    result = build("-sb", "local-file-system/shared", "--apply")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: symlink 'leak.txt' points outside the project, to {str(outside / 'secret.txt')!r}: not uploaded. "
        "Add it to .sluiceignore to leave it out, or upload a copy of what it points to with "
        "--follow-symlinks (follow_symlinks=True in Python)"
    ]
    assert stored_files(store) == []
    assert not (project / "say_hi-deployment.yaml").exists()
    assert sluice("deployment", "ls", "--json").stdout.strip() == "[]"


def test_build_with_follow_symlinks_uploads_copies_and_says_so(project: Path, outside: Path, store: Path) -> None:
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    (project / "data").symlink_to(outside / "data", target_is_directory=True)
    result = build("-sb", "local-file-system/shared", "--follow-symlinks")
    assert result.exit_code == 0, result.stderr
    assert stored_files(store) == ["data/table.csv", "flows/marvin.py", "leak.txt", "lib/util.py"]
    assert not (store / "leak.txt").is_symlink() and (store / "leak.txt").read_text() == "private\n"
    assert "Uploaded 4 files (" in result.stdout
    assert "Copied 2 symlinks that point outside the project (--follow-symlinks): data, leak.txt." in result.stdout


def test_build_uploads_a_symlinked_folder_inside_the_project(project: Path, store: Path) -> None:
    (project / "flows" / "lib").symlink_to("../lib", target_is_directory=True)
    result = build("-sb", "local-file-system/shared")
    assert result.exit_code == 0, result.stderr
    assert stored_files(store) == ["flows/lib/util.py", "flows/marvin.py", "lib/util.py"]


def test_build_warns_about_a_skipped_loop(project: Path, store: Path) -> None:
    (project / "lib" / "up").symlink_to("..", target_is_directory=True)
    result = build("-sb", "local-file-system/shared")
    assert result.exit_code == 0, result.stderr
    assert "Warning: symlink 'lib/up' points to '.', a folder that contains it: skipped (a loop)" in result.stderr
    assert stored_files(store) == ["flows/marvin.py", "lib/util.py"]


# -- --dry-run -------------------------------------------------------------------------------------


def test_dry_run_shows_each_link_with_its_target_and_what_happens_to_it(
    project: Path, outside: Path, store: Path
) -> None:
    (project / "alias.py").symlink_to("lib/util.py")
    (project / "vendor").symlink_to("lib", target_is_directory=True)
    result = build("-sb", "local-file-system/shared", "--dry-run")
    assert result.exit_code == 0, result.stderr
    size = 3 * len("GREETING = 'hi'\n") + len(FLOW)
    assert result.stdout.splitlines() == [
        "alias.py -> lib/util.py  (file link inside the project: uploaded as its content)",
        "flows/marvin.py",
        "lib/util.py",
        "vendor -> lib  (folder link inside the project: followed)",
        "vendor/util.py",
        f"Would upload 4 files ({size:,} bytes) to {store.as_posix()}.",
        "Would write 'say_hi-deployment.yaml' (dry run: nothing was uploaded or written).",
    ]


def test_dry_run_shows_a_refused_link_and_fails_as_the_build_would(project: Path, outside: Path, store: Path) -> None:
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    result = build("-sb", "local-file-system/shared", "--dry-run")
    assert result.stdout.splitlines() == [
        "flows/marvin.py",
        f"leak.txt -> {outside / 'secret.txt'}  (file link outside the project: refused)",
        "lib/util.py",
    ]
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: symlink 'leak.txt' points outside the project, to {str(outside / 'secret.txt')!r}: not uploaded. "
        "Add it to .sluiceignore to leave it out, or upload a copy of what it points to with "
        "--follow-symlinks (follow_symlinks=True in Python)"
    ]
    assert stored_files(store) == [] and not (project / "say_hi-deployment.yaml").exists()


def test_dry_run_with_follow_symlinks_shows_the_copies(project: Path, outside: Path, store: Path) -> None:
    (project / "data").symlink_to(outside / "data", target_is_directory=True)
    result = build("-sb", "local-file-system/shared", "--dry-run", "--follow-symlinks")
    assert result.exit_code == 0, result.stderr
    assert f"data -> {outside / 'data'}  (folder link outside the project: copied (--follow-symlinks))" in (
        result.stdout.splitlines()
    )
    assert "data/table.csv" in result.stdout.splitlines()
    assert stored_files(store) == []


# -- the flag where it means nothing ----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [["--follow-symlinks"], ["-sb", "local-file-system/shared", "--skip-upload", "--follow-symlinks"]],
)
def test_follow_symlinks_without_an_upload_is_an_error(project: Path, store: Path, options: list[str]) -> None:
    result = build(*options)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: --follow-symlinks only applies to an upload: give --storage-block (without --skip-upload), "
        "or leave it out"
    ]
    assert not (project / "say_hi-deployment.yaml").exists()


# -- apply --upload --------------------------------------------------------------------------------


def test_apply_upload_refuses_an_outside_link_and_follow_symlinks_copies_it(
    project: Path, outside: Path, store: Path
) -> None:
    assert build("-sb", "local-file-system/shared", "--skip-upload").exit_code == 0
    (project / "leak.txt").symlink_to(outside / "secret.txt")
    refused = sluice("deployment", "apply", "say_hi-deployment.yaml", "--upload")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: symlink 'leak.txt' points outside the project")
    assert stored_files(store) == [] and sluice("deployment", "ls", "--json").stdout.strip() == "[]"
    copied = sluice("deployment", "apply", "say_hi-deployment.yaml", "--upload", "--follow-symlinks")
    assert copied.exit_code == 0, copied.stderr
    assert (store / "leak.txt").read_text() == "private\n"


def test_apply_follow_symlinks_needs_upload(project: Path, store: Path) -> None:
    assert build("-sb", "local-file-system/shared", "--skip-upload").exit_code == 0
    result = sluice("deployment", "apply", "say_hi-deployment.yaml", "--follow-symlinks")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: --follow-symlinks needs --upload"


# -- the Python API --------------------------------------------------------------------------------


def test_python_upload_refuses_an_outside_link_unless_follow_symlinks(
    project: Path, outside: Path, store: Path
) -> None:
    from sluice.deployments import Deployment
    from sluice.errors import ConfigurationError
    from sluice.filesystems import LocalFileSystem
    from sluice.flows import load_flow_from_entrypoint

    (project / "leak.txt").symlink_to(outside / "secret.txt")
    flow = load_flow_from_entrypoint("flows/marvin.py:say_hi")
    storage = LocalFileSystem.load("shared")
    with pytest.raises(ConfigurationError, match=r"symlink 'leak\.txt' points outside the project"):
        Deployment.build_from_flow(flow, name="m", storage=storage)
    assert stored_files(store) == []
    deployment = Deployment.build_from_flow(flow, name="m", storage=storage, follow_symlinks=True)
    assert (store / "leak.txt").read_text() == "private\n"
    (store / "leak.txt").unlink()
    with pytest.raises(ConfigurationError, match=r"symlink 'leak\.txt' points outside the project"):
        deployment.upload()
    assert deployment.upload(follow_symlinks=True) == 3


# -- runs ------------------------------------------------------------------------------------------


def test_a_run_pulls_a_storage_folder_holding_a_symlinked_folder(project: Path, store: Path) -> None:
    assert build("-sb", "local-file-system/shared/app", "--apply").exit_code == 0
    (store / "app" / "flows" / "lib").symlink_to("../lib", target_is_directory=True)
    executed = sluice("deployment", "execute", "say-hi/m")
    assert executed.exit_code == 0, executed.stderr
    assert "finished in state Completed" in executed.stdout


def test_a_run_whose_storage_links_out_of_the_base_fails_with_the_reason(
    project: Path, outside: Path, store: Path
) -> None:
    assert build("-sb", "local-file-system/shared/app", "--apply").exit_code == 0
    (store / "app" / "private").symlink_to(outside, target_is_directory=True)
    executed = sluice("deployment", "execute", "say-hi/m")
    assert executed.exit_code == 1
    assert (
        "finished in state Failed: Flow could not be loaded: Local File System storage block (local-file-system/"
        f"shared) at {store.as_posix()}/app: refusing to download 'app/private': it is a symlink to "
        f"{str(outside)!r}, outside the block's base {str(store)!r}"
    ) in executed.stdout
