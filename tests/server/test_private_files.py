"""The SQLite database, its -wal/-shm files and SLUICE_HOME are created private (server/private_files.py).

The umask is set to the usual 022 for each test, which would leave new files readable by everyone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_its_wal_files_and_home_are_created_private(tmp_path: Path) -> None:
    from sqlalchemy import text

    from sluice.server.database.engine import forget_database, get_database
    from sluice.settings import Settings

    home = tmp_path / "new" / "home"
    settings = Settings(home=home)
    database = get_database(settings.effective_database_url, settings)
    try:
        with database.session() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
            session.commit()
            modes = {name: _mode(home / name) for name in ("sluice.db", "sluice.db-wal", "sluice.db-shm")}
    finally:
        forget_database(settings.effective_database_url)

    assert modes == {"sluice.db": 0o600, "sluice.db-wal": 0o600, "sluice.db-shm": 0o600}
    assert (_mode(home), _mode(home.parent)) == (0o700, 0o700)


def test_a_home_that_exists_keeps_its_mode(tmp_path: Path) -> None:
    from sluice.server.database.engine import Database

    home = tmp_path / "shared"
    home.mkdir(mode=0o755)

    Database(f"sqlite:///{home / 'sluice.db'}").dispose()

    assert _mode(home) == 0o755
    assert _mode(home / "sluice.db") == 0o600


def test_the_home_made_for_the_encryption_key_is_private(tmp_path: Path) -> None:
    from sluice.server.encryption import KEY_FILE, load_key
    from sluice.settings import Settings

    home = tmp_path / "key-home"
    load_key(Settings(home=home))

    assert (_mode(home), _mode(home / KEY_FILE)) == (0o700, 0o600)
