"""Secret values in a deployment's ``infra_overrides``: stored encrypted, answered masked.

An override is secret when its name looks secret (``sluice.blocks.looks_secret``): the last part of
its dot path (``env.AWS_SECRET_ACCESS_KEY``, ``image_registry.password``), or a key inside an object
value (``{"env": {"GITHUB_TOKEN": "..."}}``). Its value is stored as ``sluice-encrypted:<token>``,
encrypted with the key of block secrets, and answers show ``********`` unless the request asks for
``include_secrets=true`` (the agent does, to start the run). Sending ``********`` back keeps the
stored value, so a deployment read from the API can be sent back as it is.

Rows written before this (values in clear) are masked all the same, and encrypted on their next
write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sluice.blocks import MASK, looks_secret
from sluice.errors import ConfigurationError
from sluice.server.encryption import SecretBox

#: What a stored secret override value starts with.
ENCRYPTED = "sluice-encrypted:"

Path = tuple[str, ...]
_MISSING = object()


def _with_secrets_changed(
    overrides: dict[str, Any], change: Callable[[Path, Any], Any], path: Path = ()
) -> dict[str, Any]:
    """A copy of ``overrides`` with every non-empty secret value replaced by ``change(path, value)``."""
    result: dict[str, Any] = {}
    for key, value in overrides.items():
        here = (*path, key)
        if looks_secret(str(key).rsplit(".", 1)[-1]):
            result[key] = value if value is None or value == "" else change(here, value)
        elif isinstance(value, dict):
            result[key] = _with_secrets_changed(value, change, here)
        else:
            result[key] = value
    return result


def masked_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The overrides as answers show them: each secret value replaced by ``********``."""
    if not overrides:
        return {}
    return _with_secrets_changed(overrides, lambda path, value: MASK)


def revealed_overrides(overrides: dict[str, Any] | None, box: SecretBox) -> dict[str, Any]:
    """The overrides with their secret values decrypted (``include_secrets=true``)."""
    if not overrides:
        return {}

    def decrypt(path: Path, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(ENCRYPTED):
            return box.decrypt_value(value.removeprefix(ENCRYPTED))
        return value  # stored in clear by an older server

    return _with_secrets_changed(overrides, decrypt)


def protected_overrides(
    given: dict[str, Any] | None, stored: dict[str, Any] | None, box: Callable[[], SecretBox]
) -> dict[str, Any]:
    """The overrides to store: secret values encrypted (``box()`` is called only when there is
    one); a secret sent as ``********`` keeps the value stored at the same place in ``stored``."""
    if not given:
        return {}

    def protect(path: Path, value: Any) -> Any:
        if value == MASK:
            kept = _at(stored or {}, path)
            if kept is _MISSING or kept is None or kept == "":
                raise ConfigurationError(
                    f"infra_overrides {'.'.join(path)!r} holds the mask {MASK!r} and there is no stored value "
                    "to keep: send the value itself"
                )
            value = kept
            if isinstance(kept, str) and kept.startswith(ENCRYPTED):
                return kept
        return ENCRYPTED + box().encrypt_value(value)

    return _with_secrets_changed(given, protect)


def _at(overrides: dict[str, Any], path: Path) -> Any:
    value: Any = overrides
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value
