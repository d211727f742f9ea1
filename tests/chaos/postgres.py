"""A PostgreSQL instance of a test's own, which it may stop and start at will.

Made with the machine's PostgreSQL binaries (``initdb``, ``pg_ctl``; ``SLUICE_TEST_PG_BIN``, default
``/usr/lib/postgresql/15/bin``) in a temporary folder, listening on 127.0.0.1 on a free port, with
trust authentication for ``postgres`` and no ``fsync`` (a test's data need not survive the machine,
only PostgreSQL's own crash). Never the shared service on 5432. As root, the binaries run as the
``postgres`` user, since PostgreSQL refuses to run as root. ``close()`` stops it (``pg_ctl stop -m
immediate``) and removes the folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.processes import free_port

PG_BIN = Path(os.environ.get("SLUICE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def postgres_binaries_missing() -> str | None:
    """Why a private instance cannot be made here, or None when it can."""
    missing = [name for name in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / name).exists()]
    if missing:
        return f"{', '.join(missing)} not found in {PG_BIN} (install PostgreSQL, or set SLUICE_TEST_PG_BIN)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no 'postgres' user to run PostgreSQL as"
    return None


class PrivatePostgres:
    """One PostgreSQL cluster in a temporary folder; ``start()`` it, ``stop()`` it, ``start()`` it again."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="sluice-private-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.port = free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.folder}'",
            "max_connections": "200",
            # Unsynced writes survive a PostgreSQL crash (the machine's page cache holds them), not a
            # machine crash. ``synchronous_commit`` stays on: with it off, a crash loses acknowledged commits.
            "fsync": "off",
            "full_page_writes": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _run(self, program: str, *args: str) -> str:
        result = subprocess.run(
            [*self._as_user, str(PG_BIN / program), *args], capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise AssertionError(f"{program} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}\n{log}")
        return result.stdout

    def start(self) -> PrivatePostgres:
        """Start it and wait until it accepts connections (``pg_ctl -w``)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "immediate") -> None:
        """Stop it: ``immediate`` is a crash (connections cut, recovery at the next start); ``fast`` is clean."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    @property
    def running(self) -> bool:
        """True while its postmaster runs."""
        args = [*self._as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"]
        return subprocess.run(args, capture_output=True, timeout=30).returncode == 0

    def admin_url(self) -> str:
        """A libpq URL of its ``postgres`` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def create_database(self, name: str) -> str:
        """Create the database ``name``; its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.admin_url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        """Stop it if it runs, and remove its folder."""
        try:
            if self.data.exists() and self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
