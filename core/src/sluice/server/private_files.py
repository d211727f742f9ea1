"""Files and folders only their owner may read: the SQLite database and ``SLUICE_HOME``.

The database holds every deployment, run and log, and ``SLUICE_HOME`` the key that decrypts the
secrets in it; both are created private (0600 and 0700) whatever the umask allows others. SQLite
gives its ``-wal`` and ``-shm`` files the mode of the database file. Files and folders that exist
already are left as they are: their owner chose their mode.
"""

from __future__ import annotations

import os
from pathlib import Path


def make_private_folder(path: Path) -> None:
    """Create ``path`` and its missing parents with mode 0700; folders that exist are not changed."""
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # another process made it in between
            continue


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600, unless it exists (an empty file is an empty SQLite database)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)
