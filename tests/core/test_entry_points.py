"""Plugin discovery reads installed metadata the way ``importlib.metadata`` does, without importing it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from sluice.entry_points import find_entry_points, normalise


def install(folder: Path, name: str, version: str, entry_points_text: str, suffix: str = "dist-info") -> None:
    """Write the metadata folder of an installed distribution into ``folder``."""
    metadata_dir = folder / f"{name.replace('-', '_')}-{version}.{suffix}"
    metadata_dir.mkdir(parents=True)
    headers = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nName: not-a-header\n"
    (metadata_dir / ("METADATA" if suffix == "dist-info" else "PKG-INFO")).write_text(headers)
    (metadata_dir / "entry_points.txt").write_text(entry_points_text)


def test_the_installed_sluice_entry_points_match_importlib_metadata() -> None:
    ours = {(e.name, e.value, e.distribution, e.version) for e in find_entry_points("sluice")}
    theirs = {(e.name, e.value, e.dist.name, e.dist.version) for e in entry_points(group="sluice")}  # type: ignore[union-attr]
    assert ours == theirs
    assert len(ours) >= 15


def test_only_the_asked_group_is_read(tmp_path: Path) -> None:
    text = "[console_scripts]\nacme = acme:main\n\n[sluice]\n# a comment\nacme = acme_plugin:plugin [extra]\n"
    install(tmp_path, "sluice-acme", "2.0", text)
    (found,) = find_entry_points("sluice", [str(tmp_path)])
    assert (found.name, found.value, found.distribution, found.version) == (
        "acme",
        "acme_plugin:plugin [extra]",
        "sluice-acme",
        "2.0",
    )


def test_a_distribution_installed_twice_is_taken_from_the_first_folder_on_the_path(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    install(first, "sluice-acme", "2.0", "[sluice]\nacme = acme_new\n")
    install(second, "Sluice_Acme", "1.0", "[sluice]\nacme = acme_old\n")
    found = find_entry_points("sluice", [str(first), str(second)])
    assert [(e.value, e.version) for e in found] == [("acme_new", "2.0")]


def test_egg_info_folders_and_missing_path_entries_are_handled(tmp_path: Path) -> None:
    install(tmp_path, "sluice-legacy", "0.9", "[sluice]\nlegacy = legacy\n", suffix="egg-info")
    found = find_entry_points("sluice", [str(tmp_path / "nowhere"), str(tmp_path / "archive.zip"), str(tmp_path)])
    assert [(e.name, e.distribution, e.version) for e in found] == [("legacy", "sluice-legacy", "0.9")]


def test_load_imports_the_module_and_follows_the_attribute_path(tmp_path: Path) -> None:
    install(tmp_path, "sluice-acme", "1.0", "[sluice]\nacme = os.path:join\n")
    (found,) = find_entry_points("sluice", [str(tmp_path)])
    import os.path

    assert found.load() is os.path.join


def test_names_are_compared_the_pep_503_way() -> None:
    assert normalise(" Sluice_Queue.SQL ") == normalise("sluice-queue-sql") == "sluice-queue-sql"


def test_sluice_help_does_not_import_importlib_metadata() -> None:
    code = (
        "import sys\nsys.argv = ['sluice', '--help']\nfrom sluice.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nprint('importlib.metadata' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"
