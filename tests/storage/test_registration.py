"""Every storage plugin is found through its entry point; unknown names say what is installed."""

from __future__ import annotations

import pytest

from sluice.errors import UnknownSlugError
from sluice.plugins import PluginManager, use_plugin_manager

STORAGE_PLUGINS = {
    "local-file-system": ("sluice-local", "LocalFileSystem"),
    "remote-file-system": ("sluice-remote-fs", "RemoteFileSystem"),
    "s3": ("sluice-s3", "S3"),
    "gcs": ("sluice-gcs", "GCS"),
    "azure": ("sluice-azure", "Azure"),
    "smb": ("sluice-smb", "SMB"),
    "github": ("sluice-github", "GitHub"),
}


@pytest.fixture(scope="module")
def manager() -> PluginManager:
    return PluginManager()


@pytest.mark.parametrize("slug", sorted(STORAGE_PLUGINS))
def test_each_storage_plugin_is_found_through_its_entry_point(manager: PluginManager, slug: str) -> None:
    distribution, class_name = STORAGE_PLUGINS[slug]
    entry = next(entry for entry in manager.registry("storage").entries() if entry.slug == slug)
    assert entry.distribution == distribution
    assert entry.cls.__name__ == class_name


def test_no_storage_plugin_failed_to_load(manager: PluginManager) -> None:
    assert not [info for info in manager.failures if info.distribution in {d for d, _ in STORAGE_PLUGINS.values()}]


def test_an_unknown_slug_says_what_is_installed_without_inventing_a_package(manager: PluginManager) -> None:
    with pytest.raises(UnknownSlugError) as caught:
        manager.registry("storage").get("dropbox")
    message = str(caught.value)
    assert message.startswith("Unknown storage block type 'dropbox': no installed plugin provides it")
    assert "install a plugin that provides it" in message and "pip install" not in message
    assert "installed: azure, gcs, github, local-file-system, remote-file-system, s3, smb;" in message


def test_a_slug_of_another_kind_says_which_kind_it_is(manager: PluginManager) -> None:
    with pytest.raises(UnknownSlugError) as caught:
        manager.registry("storage").get("process")
    assert str(caught.value).startswith(
        "Unknown storage block type 'process': it is an infrastructure block type, not a storage block type"
    )


def test_block_classes_import_from_sluice_filesystems(manager: PluginManager) -> None:
    with use_plugin_manager(manager):
        from sluice.filesystems import S3, GitHub, LocalFileSystem

        assert (S3.block_type_slug, GitHub.block_type_slug) == ("s3", "github")
        assert LocalFileSystem.block_type_slug == "local-file-system"


def test_an_unknown_class_in_sluice_filesystems_lists_the_available_ones() -> None:
    with use_plugin_manager(PluginManager(load_entry_points=False)), pytest.raises(ImportError) as caught:
        from sluice.filesystems import S3  # noqa: F401
    assert "install a plugin that provides it" in str(caught.value)
    assert "available: none" in str(caught.value)


def test_importing_a_storage_plugin_does_not_import_its_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys, sluice_s3, sluice_gcs, sluice_azure, sluice_smb, sluice_github, sluice.storage; "
        "print(sorted(m for m in ('s3fs', 'gcsfs', 'adlfs', 'smbclient', 'fsspec', 'boto3') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
