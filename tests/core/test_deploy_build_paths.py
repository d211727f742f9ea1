"""Where ``sluice deployment build`` puts a deployment's files in its storage block: the slug's
sub-path (``-sb type/name/sub/path``) joined with ``--path``, both optional. In-process, on the
embedded API, with a ``local-file-system`` block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.deploy_build import storage_path
from sluice.errors import ConfigurationError

FLOW = """from sluice import flow


@flow
def say_hi():
    return "hi"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with flows/marvin.py, made the current folder."""
    folder = tmp_path / "project"
    (folder / "flows").mkdir(parents=True)
    (folder / "flows" / "marvin.py").write_text(FLOW)
    monkeypatch.chdir(folder)
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


@pytest.mark.parametrize(
    ("block_sub_path", "path", "expected"),
    [
        (None, None, None),
        ("team", None, "team"),
        (None, "app", "app"),
        ("team", "app", "team/app"),
        ("team/a/", "./b//c", "team/a/b/c"),
        ("", ".", None),
    ],
)
def test_storage_path_joins_the_block_sub_path_and_path(
    block_sub_path: str | None, path: str | None, expected: str | None
) -> None:
    assert storage_path(block_sub_path, path) == expected


@pytest.mark.parametrize(
    ("block_sub_path", "path", "message"),
    [
        (None, "../elsewhere", "--path: path '../elsewhere' escapes the block's base path"),
        ("team/../..", None, "--storage-block sub-path: path 'team/../..' escapes"),
        (None, "/srv/flows", "--path: path '/srv/flows' is absolute"),
    ],
)
def test_storage_path_refuses_a_path_out_of_the_block(block_sub_path: str | None, path: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(".", r"\.")):
        storage_path(block_sub_path, path)


@pytest.mark.parametrize(
    ("slug", "options", "expected"),
    [
        ("local-file-system/shared", [], None),
        ("local-file-system/shared/team", [], "team"),
        ("local-file-system/shared", ["--path", "app"], "app"),
        ("local-file-system/shared/team/x", ["--path", "app"], "team/x/app"),
    ],
)
def test_build_uploads_under_the_sub_path_joined_with_path(
    project: Path, store: Path, slug: str, options: list[str], expected: str | None
) -> None:
    result = build("-sb", slug, *options)
    assert result.exit_code == 0, result.stderr
    target = store.joinpath(*(expected or "").split("/")) if expected else store
    assert (target / "flows" / "marvin.py").is_file()
    assert "Uploaded 1 file (" in result.stdout and f"to {target.as_posix()}." in result.stdout
    assert yaml.safe_load((project / "say_hi-deployment.yaml").read_text())["path"] == expected


def test_dry_run_says_where_the_files_would_go(project: Path, store: Path) -> None:
    result = build("-sb", "local-file-system/shared/team", "--path", "app", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "Would upload 1 file (" in result.stdout
    assert f"to {(store / 'team' / 'app').as_posix()}." in result.stdout
    assert not store.exists() or not any(store.iterdir())


def test_build_with_a_path_out_of_the_block_changes_nothing(project: Path, store: Path) -> None:
    result = build("-sb", "local-file-system/shared/team", "--path", "../../out", "--apply")
    assert result.exit_code != 0
    assert result.stderr.strip().splitlines() == [
        "Error: --path: path '../../out' escapes the block's base path ('..' is not allowed)"
    ]
    assert sorted(path.name for path in project.iterdir()) == ["flows"]
    assert not store.exists() or not any(store.iterdir())
    assert not (store.parent / "out").exists()


def test_build_onto_a_read_only_block_skips_the_upload_and_keeps_the_path(project: Path) -> None:
    from sluice.filesystems import GitHub

    GitHub(repository="https://git.example.invalid/acme/flows", reference="main").save("flows")
    result = build("-sb", "github/flows/team", "--path", "app")
    assert result.exit_code == 0, result.stderr
    assert "Nothing uploaded: github/flows is read-only" in result.stdout
    data = yaml.safe_load((project / "say_hi-deployment.yaml").read_text())
    assert data["path"] == "team/app" and data["storage"]["_block_document_name"] == "flows"
    dry_run = build("-sb", "github/flows/team", "--dry-run")
    assert "Nothing to upload: github/flows is read-only" in dry_run.stdout


def test_build_from_flow_onto_a_read_only_block_skips_the_upload(project: Path) -> None:
    from sluice.deployments import Deployment
    from sluice.filesystems import GitHub
    from sluice.flows import load_flow_from_entrypoint

    storage = GitHub(repository="https://git.example.invalid/acme/flows")
    flow = load_flow_from_entrypoint("flows/marvin.py:say_hi")
    deployment = Deployment.build_from_flow(flow, name="m", storage=storage, path="team/app")
    assert deployment.path == "team/app" and deployment.entrypoint == "flows/marvin.py:say_hi"


def test_apply_with_upload_onto_a_read_only_block_uploads_nothing(project: Path) -> None:
    from sluice.filesystems import GitHub

    GitHub(repository="https://git.example.invalid/acme/flows").save("flows")
    assert build("-sb", "github/flows", "--path", "app").exit_code == 0
    result = sluice("deployment", "apply", "say_hi-deployment.yaml", "--upload")
    assert result.exit_code == 0, result.stderr
    assert "successfully created" in result.stdout
