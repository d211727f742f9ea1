"""``sluice block`` commands, in-process on the embedded API: types, create, ls, inspect, delete.

Secrets must never be echoed: not by ``create``, not by ``inspect``, not in an error.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from sluice.cli import build_app


def sluice(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    """Run the CLI in-process; returns the click Result (stdout and stderr kept apart)."""
    return CliRunner().invoke(build_app(), list(args), input=input, env=env, catch_exceptions=False)


def create_s3(name: str = "prod", *extra: str) -> Any:
    return sluice(
        "block",
        "create",
        "s3",
        name,
        "--set",
        "bucket_path=bucket/flows",
        "--set",
        "aws_access_key_id=AKIA-cli",
        "--set-env",
        "aws_secret_access_key=CLI_TEST_SECRET",
        *extra,
        env={"CLI_TEST_SECRET": "cli-secret-value"},
    )


def test_type_ls_lists_storage_and_infrastructure_types_with_their_package() -> None:
    result = sluice("block", "type", "ls", "--json")
    assert result.exit_code == 0, result.stderr
    types = {row["slug"]: row for row in json.loads(result.stdout)}
    assert types["s3"]["distribution"] == "sluice-s3"
    assert types["s3"]["kind"] == "storage"
    assert types["s3"]["secret_fields"] == ["aws_secret_access_key"]
    assert "local-file-system" in types


def test_create_with_a_secret_from_the_environment_then_inspect_shows_it_masked() -> None:
    created = create_s3()
    assert created.exit_code == 0, created.stderr
    assert "Saved block s3/prod" in created.stdout
    assert "cli-secret-value" not in created.stdout + created.stderr
    inspected = sluice("block", "inspect", "s3/prod", "--json")
    assert inspected.exit_code == 0, inspected.stderr
    shown = json.loads(inspected.stdout)
    assert shown["data"]["aws_secret_access_key"] == "********"
    assert shown["data"]["bucket_path"] == "bucket/flows"
    assert "cli-secret-value" not in inspected.stdout
    table = sluice("block", "inspect", "s3/prod")
    assert "bucket/flows" in table.stdout
    assert "cli-secret-value" not in table.stdout


def test_the_saved_block_loads_with_its_secret() -> None:
    assert create_s3().exit_code == 0
    from sluice.filesystems import S3

    assert S3.load("prod").aws_secret_access_key.get_secret_value() == "cli-secret-value"


def test_a_secret_can_be_typed_at_a_hidden_prompt() -> None:
    result = sluice(
        "block",
        "create",
        "s3",
        "typed",
        "--set",
        "bucket_path=b",
        "--prompt",
        "aws_secret_access_key",
        input="typed-secret-value\n",
    )
    assert result.exit_code == 0, result.stderr
    assert "typed-secret-value" not in result.stdout
    from sluice.filesystems import S3

    assert S3.load("typed").aws_secret_access_key.get_secret_value() == "typed-secret-value"


def test_a_secret_on_the_command_line_is_refused() -> None:
    result = sluice("block", "create", "s3", "x", "--set", "bucket_path=b", "--set", "aws_secret_access_key=oops")
    assert result.exit_code == 1
    assert "aws_secret_access_key is secret: pass it with --set-env" in result.stderr
    assert "oops" not in result.stderr


@pytest.mark.parametrize(
    "assignment",
    ["image_registry.password=oops", 'image_registry={"username": "u", "password": "oops", "registry_url": "r"}'],
)
def test_a_nested_secret_on_the_command_line_is_refused(assignment: str) -> None:
    result = sluice("block", "create", "docker-container", "x", "--set", assignment)
    assert result.exit_code == 1
    assert "image_registry.password is secret: pass it with --set-env" in result.stderr
    assert "oops" not in result.stdout + result.stderr


def test_a_nested_secret_from_the_environment_is_saved_and_shown_masked() -> None:
    created = sluice(
        "block", "create", "docker-container", "registry", "--set", "image=flows:1",
        "--set", "image_registry.username=robot", "--set", "image_registry.registry_url=registry.example",
        "--set-env", "image_registry.password=REGISTRY_PASSWORD",
        env={"REGISTRY_PASSWORD": "registry-secret-value"},
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    shown = sluice("block", "inspect", "docker-container/registry", "--json").stdout
    assert json.loads(shown)["data"]["image_registry"]["password"] == "********"
    assert "registry-secret-value" not in shown
    from sluice_docker.container import DockerContainer

    loaded = DockerContainer.load("registry").image_registry
    assert loaded is not None and loaded.password.get_secret_value() == "registry-secret-value"


def test_dotted_settings_and_masked_nested_secrets_for_remote_file_system() -> None:
    result = sluice(
        "block",
        "create",
        "remote-file-system",
        "minio",
        "--set",
        "basepath=s3://bucket/flows",
        "--set",
        "settings.client_kwargs.endpoint_url=http://127.0.0.1:9000",
        "--set-env",
        "settings.secret=MINIO_SECRET",
        env={"MINIO_SECRET": "minio-secret-value"},
    )
    assert result.exit_code == 0, result.stderr
    from sluice.filesystems import RemoteFileSystem

    loaded = RemoteFileSystem.load("minio")
    endpoint = {"endpoint_url": "http://127.0.0.1:9000"}
    assert loaded.settings == {"client_kwargs": endpoint, "secret": "minio-secret-value"}
    assert "minio-secret-value" not in sluice("block", "inspect", "remote-file-system/minio", "--json").stdout


def test_creating_a_block_twice_needs_overwrite() -> None:
    assert create_s3().exit_code == 0
    again = create_s3()
    assert again.exit_code == 1
    assert "already exists" in again.stderr
    assert create_s3("prod", "--overwrite").exit_code == 0


def test_ls_lists_blocks_as_type_slash_name_and_filters_by_type() -> None:
    assert create_s3().exit_code == 0
    assert sluice("block", "create", "local-file-system", "here", "--set", "basepath=/tmp/x").exit_code == 0
    every = [row["slug"] for row in json.loads(sluice("block", "ls", "--json").stdout)]
    assert sorted(every) == ["local-file-system/here", "s3/prod"]
    only_s3 = [row["slug"] for row in json.loads(sluice("block", "ls", "--type", "s3", "--json").stdout)]
    assert only_s3 == ["s3/prod"]
    assert "s3/prod" in sluice("block", "ls").stdout


def test_delete_removes_the_block() -> None:
    assert create_s3().exit_code == 0
    deleted = sluice("block", "delete", "s3/prod")
    assert deleted.exit_code == 0, deleted.stderr
    assert json.loads(sluice("block", "ls", "--json").stdout) == []
    missing = sluice("block", "delete", "s3/prod")
    assert missing.exit_code == 1
    assert "block s3/prod not found; see `sluice block ls`" in missing.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("block", "create", "dropbox", "x"), "Unknown block type 'dropbox': no installed plugin provides it"),
        (("block", "create", "s3", "x", "--set", "nonsense"), "use --set field=value"),
        (("block", "create", "s3", "x", "--set", "bucket_path=b", "--set", "colour=red"), "invalid s3 block"),
        (("block", "create", "s3", "x", "--set-env", "aws_secret_access_key=NOT_SET_ANYWHERE"), "is not set"),
        (("block", "inspect", "s3"), "invalid block slug"),
        (("block", "inspect", "s3/nothing"), "not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_1(args: tuple[str, ...], message: str) -> None:
    result = sluice(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
