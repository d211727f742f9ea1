"""A private Podman engine serving the Docker API, for the docker-container tests (and later e2e ones).

Everything lives in one temporary folder: the three ``containers`` config files (runtime runc,
storage under the folder, every registry blocked — no network here), the API socket and the image
store. The image is a 2 MB busybox-static root file system imported with ``podman import``; Python
and the project are bind-mounted read-only from the host at the same paths (``mounts``), so a
container runs this very interpreter and virtual environment — including ``python -m sluice.engine``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: The tag of the locally imported image.
IMAGE = "localhost/sluice-test/busybox-python:1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_BUSYBOX = Path("/bin/busybox")
_READY_SECONDS = 30


class PodmanUnavailable(RuntimeError):
    """Podman (or runc, or busybox-static) is missing or would not start; the reason says which."""


@dataclass
class PodmanEngine:
    """A running ``podman system service``: its ``DOCKER_HOST``, the test image and the host mounts."""

    folder: Path
    docker_host: str
    image: str
    environment: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    #: ``host:container:ro`` bind mounts that bring the host's Python and the project into a container.
    mounts: list[str] = field(default_factory=list)
    #: The project's virtual-environment interpreter, valid inside a container with ``mounts``.
    python: str = ""

    def container_fields(self, *extra_mounts: str, network_mode: str = "host") -> dict[str, Any]:
        """Fields for a ``DockerContainer`` that runs the project's engine on this engine.

        ``python -m sluice.engine`` with the project's interpreter, the local image (never pulled),
        the host mounts plus ``extra_mounts`` (``/path:/path:ro`` — e.g. a deployment's local
        folder), and host networking so a loopback ``SLUICE_API_URL`` works unchanged.
        """
        return {
            "image": self.image,
            "image_pull_policy": "NEVER",
            "volumes": [*self.mounts, *extra_mounts],
            "network_mode": network_mode,
            "command": [self.python, "-m", "sluice.engine"],
        }

    def podman(self, *arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the ``podman`` command line against this engine's storage and configuration."""
        return subprocess.run(
            ["podman", *arguments], env=self.environment, capture_output=True, text=True, timeout=timeout, check=False
        )

    def stop(self) -> None:
        """Remove every container, then stop the service by its PID."""
        self.podman("rm", "--all", "--force", "--time", "0")
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def write_configuration(folder: Path) -> dict[str, str]:
    """Write containers.conf, storage.conf and registries.conf under ``folder``; return the environment."""
    for name in ("graph", "run", "tmp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "containers.conf").write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'tmp_dir = "{folder / "tmp"}"\n'
    )
    (folder / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{folder / "graph"}"\nrunroot = "{folder / "run"}"\n'
    )
    blocked = ("docker.io", "quay.io", "ghcr.io", "gcr.io", "registry.k8s.io", "registry.fedoraproject.org")
    (folder / "registries.conf").write_text(
        "unqualified-search-registries = []\n"
        + "".join(f'[[registry]]\nlocation = "{registry}"\nblocked = true\n' for registry in blocked)
    )
    return {
        **os.environ,
        "CONTAINERS_CONF": str(folder / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(folder / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(folder / "registries.conf"),
    }


def build_rootfs_tar(folder: Path) -> Path:
    """A tar of a minimal root file system: busybox as /bin/sh, and mount points for the host's Python."""
    root = folder / "rootfs"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(_BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "sleep", "cat", "echo", "env", "ls"):
        (root / "bin" / applet).unlink(missing_ok=True)
        (root / "bin" / applet).symlink_to("busybox")
    for directory in ("usr", "tmp", "etc", "root", "proc", "sys", "dev", "work"):
        (root / directory).mkdir(exist_ok=True)
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64")):
        (root / link).unlink(missing_ok=True)
        (root / link).symlink_to(target)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    archive = folder / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".")
    return archive


def host_python_mounts() -> list[str]:
    """Read-only mounts that make this interpreter and the project runnable inside the container."""
    mounts = [f"{path}:{path}:ro" for path in ("/usr", sys.base_prefix, str(PROJECT_ROOT))]
    return list(dict.fromkeys(mounts))


def start_podman(folder: Path) -> PodmanEngine:
    """Start ``podman system service`` on a socket in ``folder`` and import the test image."""
    for program in ("podman", "runc"):
        if shutil.which(program) is None:
            raise PodmanUnavailable(f"`{program}` is not installed (apt-get install podman runc)")
    if not _BUSYBOX.exists():
        raise PodmanUnavailable("busybox-static is not installed (apt-get install busybox-static)")
    environment = write_configuration(folder)
    socket = folder / "podman.sock"
    engine = PodmanEngine(
        folder=folder,
        docker_host=f"unix://{socket}",
        image=IMAGE,
        environment=environment,
        mounts=host_python_mounts(),
        python=str(PROJECT_ROOT / ".venv" / "bin" / "python"),
    )
    imported = engine.podman("import", str(build_rootfs_tar(folder)), IMAGE)
    if imported.returncode != 0:
        raise PodmanUnavailable(f"`podman import` failed: {imported.stderr.strip()}")
    log = (folder / "service.log").open("wb")
    engine.process = subprocess.Popen(
        ["podman", "system", "service", "--time=0", engine.docker_host],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    _wait_until_ready(engine, folder / "service.log")
    return engine


def _wait_until_ready(engine: PodmanEngine, log: Path) -> None:
    import docker
    from docker.errors import DockerException

    deadline = time.monotonic() + _READY_SECONDS
    while True:
        assert engine.process is not None
        if engine.process.poll() is not None:
            raise PodmanUnavailable(f"`podman system service` exited: {log.read_text()[-500:]}")
        try:
            client = docker.DockerClient(base_url=engine.docker_host, timeout=5)
            try:
                client.ping()
                return
            finally:
                client.close()
        except DockerException:
            if time.monotonic() > deadline:
                engine.stop()
                raise PodmanUnavailable(f"the Podman API did not answer within {_READY_SECONDS}s") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def podman_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodmanEngine]:
    """A Podman engine for the whole session; skips (or fails in CI) when Podman cannot run here.

    Import it into another ``conftest.py`` to use it elsewhere: ``from tests.infra.podman import
    podman_engine``. Tests point the docker SDK at it with ``DOCKER_HOST=engine.docker_host``.
    """
    from tests.conftest import require_service

    # A short folder name keeps the socket path under the 108-byte limit of Unix sockets.
    folder = tmp_path_factory.mktemp("podman")
    try:
        engine = start_podman(folder)
    except PodmanUnavailable as exc:
        require_service("podman", str(exc))
    try:
        yield engine
    finally:
        engine.stop()
