"""Every storage block through the whole path, with a real server, a real agent and each real store.

For each block type the test saves a block with ``sluice block create``, builds a deployment of a
small project (with a ``.sluiceignore``) onto ``-sb TYPE/NAME/team --path app`` and applies it, runs it
with ``sluice deployment run``, and lets ``sluice agent start`` (process infrastructure) run it to
COMPLETED. The flow logs a line read from a data file and the files of its working folder, so the logs
prove what the engine pulled; the store's own listing proves where the upload went and that the
ignored files stayed home. The read-only ``github`` block is built with ``--skip-upload`` against a
branch the test pushed over smart HTTP.

One server and one agent serve the whole module; each store's server is the session fixture of
``tests/storage/conftest.py``, started on first use (a missing one skips or, in CI, fails its case).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.client import get_client
from sluice.errors import ObjectNotFound
from sluice.plugins import get_registry
from tests.e2e.processes import (
    SLUICE,
    ServerProcess,
    SluiceProcess,
    agent_process,
    final_state,
    run_id_from,
    run_sluice,
)
from tests.storage.conftest import (  # noqa: F401 (fixtures, requested by name through getfixturevalue)
    BUCKET,
    GitServer,
    S3Server,
    SambaServer,
    azurite,
    fake_gcs,
    git_server,
    samba,
    seaweedfs,
)

pytestmark = pytest.mark.slow

QUEUE = "storage-e2e"
FLOW = "storage-hello"
BLOCK_SUB_PATH = "team"  # in the -sb slug
EXTRA_PATH = "app"  # given with --path
DEPLOYMENT_PATH = f"{BLOCK_SUB_PATH}/{EXTRA_PATH}"
#: Unique per test session, so reruns against the session's shared stores never see old files.
RUN_TAG = uuid.uuid4().hex[:8]

FLOW_SOURCE = '''"""The flow every storage case deploys."""

from pathlib import Path

from sluice import flow, get_run_logger


@flow(name="storage-hello")
def storage_hello() -> None:
    """Log the greeting of data/greeting.txt and the files of the working folder the engine pulled."""
    logger = get_run_logger()
    logger.info(Path("data/greeting.txt").read_text(encoding="utf-8").strip())
    here = Path.cwd()
    files = sorted(
        path.relative_to(here).as_posix()
        for path in here.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    logger.info("files: " + ", ".join(files))
'''

#: What a build uploads (and the engine pulls): the ignore file is uploaded, what it names is not.
UPLOADED = [".sluiceignore", "data/greeting.txt", "flows/storage_hello.py"]


@dataclass
class Stack:
    """The module's ``sluice server start`` and ``sluice agent start``, and the environment to reach them."""

    env: dict[str, str]
    server: ServerProcess
    agent: SluiceProcess
    folder: Path


@dataclass
class BlockCase:
    """A storage block to save with ``sluice block create``: its type, name, fields and secrets."""

    block_type: str
    name: str
    fields: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)  # field → value, passed through --set-env
    read_only: bool = False

    @property
    def slug(self) -> str:
        """``type/name``, as deployments name the block."""
        return f"{self.block_type}/{self.name}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One API server and one agent serving ``QUEUE`` for the whole module."""
    folder = tmp_path_factory.mktemp("storage-e2e")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env["SLUICE_HOME"] = str(folder / "home")
    env["SLUICE_AGENT_HEARTBEAT_SECONDS"] = "1"
    env["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"  # see tests/storage/conftest.py
    server = ServerProcess(env, folder / "server.log").start()
    env["SLUICE_API_URL"] = server.api_url
    agent = agent_process(env, folder / "agent.log", QUEUE).start()
    try:
        yield Stack(env, server, agent, folder)
    finally:
        agent.stop()
        server.stop()


@pytest.fixture
def api(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point this test process's client (``Block.load``) at the module's server; returns its API URL."""
    monkeypatch.setenv("SLUICE_API_URL", stack.server.api_url)
    return stack.server.api_url


# -- the blocks, one per case ----------------------------------------------------------------------


def local_case(request: pytest.FixtureRequest, folder: Path) -> BlockCase:
    return BlockCase("local-file-system", "e2e-local", {"basepath": str(folder / "local-store")})


def remote_file_case(request: pytest.FixtureRequest, folder: Path) -> BlockCase:
    # memory:// lives in one process only: the agent's engine could never see the upload.
    return BlockCase("remote-file-system", "e2e-file", {"basepath": f"file://{folder / 'remote-store'}"})


def remote_s3_case(request: pytest.FixtureRequest, folder: Path) -> BlockCase:
    server: S3Server = request.getfixturevalue("seaweedfs")
    return BlockCase(
        "remote-file-system",
        "e2e-remote-s3",
        {
            "basepath": f"s3://{server.bucket}/e2e-{RUN_TAG}/remote",
            "settings.client_kwargs.endpoint_url": server.endpoint_url,
        },
        {"settings.key": server.access_key, "settings.secret": server.secret_key},
    )


def s3_case(request: pytest.FixtureRequest, folder: Path) -> BlockCase:
    server: S3Server = request.getfixturevalue("seaweedfs")
    return BlockCase(
        "s3",
        "e2e-s3",
        {
            "bucket_path": f"{server.bucket}/e2e-{RUN_TAG}/s3",
            "aws_access_key_id": server.access_key,
            "endpoint_url": server.endpoint_url,
        },
        {"aws_secret_access_key": server.secret_key},
    )


def gcs_case(request: pytest.FixtureRequest, folder: Path) -> BlockCase:
    endpoint: str = request.getfixturevalue("fake_gcs")
    fields = {"bucket_path": f"{BUCKET}/e2e-{RUN_TAG}", "endpoint_url": endpoint, "project": "sluice-test"}
    return BlockCase("gcs", "e2e-gcs", fields)


def azure_case(request: pytest.FixtureRequest, folder: Path) -> BlockCase:
    connection_string: str = request.getfixturevalue("azurite")
    return BlockCase(
        "azure",
        "e2e-azure",
        {"bucket_path": f"{BUCKET}/e2e-{RUN_TAG}"},
        {"azure_storage_connection_string": connection_string},
    )


def smb_case(request: pytest.FixtureRequest, folder: Path) -> BlockCase:
    server: SambaServer = request.getfixturevalue("samba")
    return BlockCase(
        "smb",
        "e2e-smb",
        {
            "share_path": f"//{server.host}/{server.share}/e2e-{RUN_TAG}",
            "smb_port": str(server.port),
            "smb_username": server.username,
        },
        {"smb_password": server.password},
    )


def github_case(request: pytest.FixtureRequest, folder: Path) -> BlockCase:
    server: GitServer = request.getfixturevalue("git_server")
    return BlockCase(
        "github",
        "e2e-github",
        {"repository": server.http_url, "reference": f"e2e-{RUN_TAG}"},
        {"access_token": server.token},
        read_only=True,
    )


CASES: dict[str, Callable[[pytest.FixtureRequest, Path], BlockCase]] = {
    "local-file-system": local_case,
    "remote-file-system-file": remote_file_case,
    "remote-file-system-s3": remote_s3_case,
    "s3": s3_case,
    "gcs": gcs_case,
    "azure": azure_case,
    "smb": smb_case,
    "github": github_case,
}


# -- helpers ---------------------------------------------------------------------------------------


def create_block(stack: Stack, case: BlockCase, cwd: Path) -> None:
    """``sluice block create TYPE NAME --set … --set-env …``, secrets only through the environment."""
    args = ["block", "create", case.block_type, case.name, "--overwrite"]
    env = dict(stack.env)
    for name, value in case.fields.items():
        args += ["--set", f"{name}={value}"]
    for number, (name, value) in enumerate(case.secrets.items()):
        variable = f"SLUICE_E2E_SECRET_{number}"
        env[variable] = value
        args += ["--set-env", f"{name}={variable}"]
    run_sluice(env, cwd, *args)


def write_project(folder: Path, case_id: str) -> Path:
    """The project a user deploys: the flow, a data file, an ignore file and two files it ignores."""
    (folder / "flows").mkdir(parents=True)
    (folder / "data").mkdir()
    (folder / "flows" / "storage_hello.py").write_text(FLOW_SOURCE, encoding="utf-8")
    (folder / "data" / "greeting.txt").write_text(f"Hello from {case_id}\n", encoding="utf-8")
    (folder / ".sluiceignore").write_text("secret.txt\n*.log\n", encoding="utf-8")
    return folder


def write_ignored_files(folder: Path) -> None:
    """Files the ``.sluiceignore`` names: they must never reach the store."""
    (folder / "secret.txt").write_text("do not upload\n", encoding="utf-8")
    (folder / "debug.log").write_text("noise\n", encoding="utf-8")


def git(folder: Path, *args: str) -> str:
    """Run git in ``folder`` with a fixed identity and no user configuration."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Sluice Tests",
        "GIT_AUTHOR_EMAIL": "tests@sluice.invalid",
        "GIT_COMMITTER_NAME": "Sluice Tests",
        "GIT_COMMITTER_EMAIL": "tests@sluice.invalid",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
    }
    result = subprocess.run(["git", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"git {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def push_project(server: GitServer, work: Path, case_id: str, branch: str) -> Path:
    """Commit the project under ``team/app`` of a new repository and push it as ``branch``; return that folder."""
    project = write_project(work / BLOCK_SUB_PATH / EXTRA_PATH, case_id)
    (work / "README.md").write_text("outside the deployment's path\n", encoding="utf-8")
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "add", "-A")
    git(work, "commit", "--quiet", "-m", "the flow")
    header = f"http.extraHeader=Authorization: Bearer {server.token}"
    git(work, "-c", header, "push", "--quiet", server.http_url, f"HEAD:refs/heads/{branch}")
    return project


def load_block(case: BlockCase) -> Any:
    """The saved block, loaded from the module's server (secrets included)."""
    return get_registry("storage").get(case.block_type).load(case.name)


def stored_files(case: BlockCase, into: Path) -> list[str]:
    """Every file of the saved block's store, relative to its base, read back through the block."""
    load_block(case).get_directory(local_path=into)
    return sorted(path.relative_to(into).as_posix() for path in into.rglob("*") if path.is_file())


def run_logs(api_url: str, run_id: str) -> list[str]:
    """The messages logged by the run."""
    with get_client(api_url=api_url) as client:
        return [log.message for log in client.filter_logs(run_id)]


# -- the whole path, once per block ----------------------------------------------------------------


@pytest.mark.parametrize("case_id", list(CASES))
def test_build_apply_run_with_a_real_agent_pulls_from_the_storage_block(
    case_id: str, stack: Stack, api: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    case = CASES[case_id](request, tmp_path)
    build_options: list[str] = []
    if case.read_only:
        server: GitServer = request.getfixturevalue("git_server")
        project = push_project(server, tmp_path / "work", case_id, case.fields["reference"])
        build_options.append("--skip-upload")
    else:
        project = write_project(tmp_path / "project", case_id)
    write_ignored_files(project)
    create_block(stack, case, tmp_path)

    built = run_sluice(
        stack.env, project, "deployment", "build", "flows/storage_hello.py:storage_hello", "-n", case_id,
        "-q", QUEUE, "-sb", f"{case.slug}/{BLOCK_SUB_PATH}", "--path", EXTRA_PATH, "--apply", *build_options,
    )  # fmt: skip
    assert f"Deployment '{FLOW}/{case_id}' successfully created" in built
    written = yaml.safe_load((project / "storage_hello-deployment.yaml").read_text())
    assert written["path"] == DEPLOYMENT_PATH
    assert written["storage"]["_block_document_name"] == case.name
    if case.read_only:
        assert "Uploaded" not in built
    else:
        size = sum((project / name).stat().st_size for name in UPLOADED)
        assert f"Uploaded 3 files ({size:,} bytes) to {load_block(case).url_for(DEPLOYMENT_PATH)}." in built
        # Where it went: under the slug's sub-path joined with --path, and nothing ignored.
        assert stored_files(case, tmp_path / "stored") == [f"{DEPLOYMENT_PATH}/{name}" for name in UPLOADED]

    run_id = run_id_from(run_sluice(stack.env, project, "deployment", "run", f"{FLOW}/{case_id}"))
    with get_client(api_url=api) as client:
        state = final_state(client, run_id)
    logs = run_logs(api, run_id)
    assert state.type.value == "COMPLETED", f"{state.message}\n{logs}\n{stack.agent.output()[-3000:]}"
    assert f"Hello from {case_id}" in logs
    # What the engine pulled is the deployment's path only: no README from the repository's root,
    # no ignored file.
    assert f"files: {', '.join(UPLOADED)}" in logs


# -- build-time storage errors: one line, nothing written ------------------------------------------


@pytest.mark.parametrize(
    ("problem", "reason"),
    [("wrong-secret", "access denied"), ("missing-bucket", "not found")],
)
def test_build_onto_s3_with_a_storage_error_fails_in_one_line_and_writes_nothing(
    problem: str, reason: str, stack: Stack, api: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: S3Server = request.getfixturevalue("seaweedfs")
    bucket = f"no-such-bucket-{RUN_TAG}" if problem == "missing-bucket" else server.bucket
    secret = "not-the-secret-0123" if problem == "wrong-secret" else server.secret_key
    case = BlockCase(
        "s3",
        f"e2e-{problem}",
        {"bucket_path": f"{bucket}/flows", "aws_access_key_id": server.access_key, "endpoint_url": server.endpoint_url},
        {"aws_secret_access_key": secret},
    )
    create_block(stack, case, tmp_path)
    project = write_project(tmp_path / "project", problem)

    result = subprocess.run(
        [SLUICE, "deployment", "build", "flows/storage_hello.py:storage_hello", "-n", problem, "-q", QUEUE,
         "-sb", f"{case.slug}/{BLOCK_SUB_PATH}", "--path", EXTRA_PATH, "--apply"],
        cwd=project, env=stack.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: S3 storage block ({case.slug}) at s3://{bucket}/flows/{DEPLOYMENT_PATH}"), lines
    assert reason in lines[0]
    assert secret not in result.stderr + result.stdout
    assert not list(project.glob("*.yaml"))
    with get_client(api_url=api) as client, pytest.raises(ObjectNotFound):
        client.read_deployment_by_name(f"{FLOW}/{problem}")
