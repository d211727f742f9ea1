"""The smb block (sluice-smb) against Samba on a loopback port other than 445."""

from __future__ import annotations

import uuid

import pytest

from sluice.errors import StorageError
from sluice_smb.block import SMB
from tests.storage.battery import StorageBattery
from tests.storage.conftest import SambaServer

pytestmark = pytest.mark.service


def make_block(server: SambaServer, **changes: object) -> SMB:
    fields = {
        "share_path": f"//{server.host}/{server.share}/{uuid.uuid4().hex}",
        "smb_username": server.username,
        "smb_password": server.password,
        "smb_port": server.port,
    }
    return SMB.model_validate({**fields, **changes})


class TestSMB(StorageBattery):
    @pytest.fixture
    def block(self, samba: SambaServer) -> SMB:
        return make_block(samba)

    @pytest.fixture
    def secrets(self, samba: SambaServer) -> list[str]:
        return [samba.password]


def test_a_wrong_password_is_refused_even_after_a_good_login(samba: SambaServer) -> None:
    make_block(samba).write_path("ok.txt", b"x")  # leaves no authenticated session behind to reuse
    block = make_block(samba, share_path=f"//{samba.host}/{samba.share}/denied", smb_password="wrong-smb-password")
    with pytest.raises(StorageError) as caught:
        block.write_path("a.txt", b"x")
    message = str(caught.value)
    assert message.startswith(f"SMB storage block (smb) at smb://{samba.host}:{samba.port}/{samba.share}/denied")
    assert "access denied" in message
    assert "wrong-smb-password" not in message


def test_a_missing_share_is_one_clear_error(samba: SambaServer) -> None:
    block = make_block(samba, share_path=f"//{samba.host}/no-such-share/flows")
    with pytest.raises(StorageError, match=r"no-such-share.*not found"):
        block.write_path("a.txt", b"x")
    with pytest.raises(StorageError, match=r"no-such-share/flows/a.txt: not found"):
        block.read_path("a.txt")


def test_smb_host_with_a_share_path_without_host(samba: SambaServer) -> None:
    block = make_block(samba, share_path=f"/{samba.share}/{uuid.uuid4().hex}", smb_host=samba.host)
    block.write_path("a.txt", b"hello")
    assert block.read_path("a.txt") == b"hello"


def test_share_path_needs_a_host_and_a_share() -> None:
    with pytest.raises(ValueError, match="smb_host"):
        SMB(share_path="/share/dir")
    with pytest.raises(ValueError, match="must name a share"):
        SMB(share_path="//host")
