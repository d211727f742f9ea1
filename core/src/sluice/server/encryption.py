"""Encryption of secrets at rest: block secrets and secret ``infra_overrides`` (Fernet: AES-128-CBC with an HMAC).

The key comes from ``SLUICE_ENCRYPTION_KEY`` or, when unset, from ``$SLUICE_HOME/encryption.key``,
created on first need with mode 0600. Several replicas on one PostgreSQL database must share the
key: set ``SLUICE_ENCRYPTION_KEY`` on each.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sluice.errors import ConfigurationError
from sluice.server.private_files import make_private_folder
from sluice.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from cryptography.fernet import Fernet

KEY_FILE = "encryption.key"


def load_key(settings: Settings) -> bytes:
    """The encryption key: from the settings, else from the key file (created if missing)."""
    if settings.encryption_key is not None:
        return settings.encryption_key.get_secret_value().encode()
    return _key_from_file(settings.home / KEY_FILE)


def _key_from_file(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    from cryptography.fernet import Fernet

    make_private_folder(path.parent)
    key = Fernet.generate_key()
    try:
        # O_EXCL: when two processes race, exactly one writes and the other reads its key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key


@lru_cache(maxsize=16)
def _fernet(key: bytes) -> Fernet:
    # cryptography is imported here, not with the module: every router imports this module through
    # ``deps``, and the import costs ~80 ms that only block-document requests need.
    from cryptography.fernet import Fernet

    try:
        return Fernet(key)
    except ValueError as exc:
        raise ConfigurationError(
            f"SLUICE_ENCRYPTION_KEY is not a valid Fernet key ({exc}); make one with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
        ) from None


class SecretBox:
    """Encrypts and decrypts a block document's secret fields as one token."""

    def __init__(self, key: bytes) -> None:
        self._fernet = _fernet(key)

    def encrypt(self, secrets: dict[str, Any]) -> str | None:
        """One token holding every secret value; None when there is none."""
        if not secrets:
            return None
        return self._fernet.encrypt(json.dumps(secrets).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, Any]:
        """The secret values of a token; a token made with another key is a ``ConfigurationError``."""
        if not token:
            return {}
        return self.decrypt_value(token)

    def encrypt_value(self, value: Any) -> str:
        """One JSON value as a token (a secret of a deployment's ``infra_overrides``)."""
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def decrypt_value(self, token: str) -> Any:
        """The value of a token; a token made with another key is a ``ConfigurationError``."""
        from cryptography.fernet import InvalidToken

        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ConfigurationError(
                "a secret cannot be decrypted: the encryption key differs from the one it was saved "
                "with (check SLUICE_ENCRYPTION_KEY or $SLUICE_HOME/encryption.key)"
            ) from None
