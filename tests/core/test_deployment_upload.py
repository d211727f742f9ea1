"""``deployment apply --upload`` with a saved S3 block, against SeaweedFS (which checks credentials).

A deployment.yaml, Sluice's or Prefect 2's, carries a saved block's secrets masked; the upload must
use the block as saved on the server, secrets included, as Prefect 2's ``load_from_yaml`` does.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sluice.cli import build_app
from sluice.deployments import Deployment
from sluice.flows import load_flow_from_entrypoint
from sluice_s3.block import S3
from tests.storage.conftest import S3Server, seaweedfs  # noqa: F401 (the fixture, requested by name)

pytestmark = pytest.mark.service

FIXTURES = Path(__file__).parent / "fixtures" / "prefect220"

MARVIN = '''from sluice import flow


@flow
def say_hi(name: str = "Marvin", times: int = 1):
    """Say hi."""
    return name
'''


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "marvin.py").write_text(MARVIN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def s3b(seaweedfs: S3Server) -> S3:  # noqa: F811 (the fixture imported above)
    """The block ``s3/s3b``, saved with its secret, on a fresh prefix of the test bucket."""
    S3(
        bucket_path=f"{seaweedfs.bucket}/{uuid.uuid4().hex}",
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key=seaweedfs.secret_key,
        endpoint_url=seaweedfs.endpoint_url,
        region_name="us-east-1",
    ).save("s3b")
    return S3.load("s3b")


@pytest.fixture
def loopback_only(seaweedfs: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """S3 clients without an endpoint of their own talk to SeaweedFS, never to AWS.

    Prefect's file names no endpoint: were its block used as written instead of the saved one, the
    upload must still stay on this machine (and fail on the masked secret).
    """
    monkeypatch.setenv("AWS_ENDPOINT_URL", seaweedfs.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def sluice(*args: str) -> Any:
    return CliRunner().invoke(build_app(), list(args), catch_exceptions=False)


def test_apply_upload_of_a_built_file_uses_the_saved_blocks_secret(project: Path, s3b: S3) -> None:
    flow = load_flow_from_entrypoint("flows/marvin.py:say_hi")
    Deployment.build_from_flow(flow, name="marvin", storage=s3b, path="app", skip_upload=True).to_yaml("d.yaml")
    assert s3b.aws_secret_access_key is not None
    assert s3b.aws_secret_access_key.get_secret_value() not in (project / "d.yaml").read_text()
    result = sluice("deployment", "apply", "d.yaml", "--upload")
    assert result.exit_code == 0, result.stderr
    assert s3b.read_path("app/flows/marvin.py") == MARVIN.encode()


def test_apply_upload_of_a_prefect_file_with_a_masked_secret_uploads(
    project: Path, s3b: S3, loopback_only: None
) -> None:
    text = (FIXTURES / "s3-storage.yaml").read_text()  # Prefect wrote aws_secret_access_key: '**********'
    assert "'**********'" in text
    (project / "s3-storage.yaml").write_text(text)
    result = sluice("deployment", "apply", "s3-storage.yaml", "--upload")
    assert result.exit_code == 0, result.stderr
    assert s3b.read_path("marvin/flows/marvin.py") == MARVIN.encode()


def test_upload_from_python_uses_the_block_as_saved(project: Path, s3b: S3, loopback_only: None) -> None:
    deployment = Deployment.from_yaml(_copy_of_prefect_file(project))
    assert deployment.upload() == 2  # the flow and the yaml file itself
    assert s3b.read_path("marvin/flows/marvin.py") == MARVIN.encode()


def _copy_of_prefect_file(project: Path) -> Path:
    file = project / "s3-storage.yaml"
    file.write_text((FIXTURES / "s3-storage.yaml").read_text())
    return file
