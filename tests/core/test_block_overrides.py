"""``Block.with_overrides`` and ``Block.data``: dot paths, JSON strings, nested secrets."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from sluice.blocks import MASK, Block
from sluice.errors import ConfigurationError


class _Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str
    password: SecretStr


class _Example(Block):
    block_type_slug: ClassVar[str] = "example"

    image: str = "base"
    env: dict[str, str | None] = {}
    ports: list[int] = []
    credentials: _Credentials | None = None
    token: SecretStr | None = None


def test_dot_paths_set_dict_keys_and_nested_fields() -> None:
    block = _Example(credentials=_Credentials(user="a", password=SecretStr("p")))
    result = block.with_overrides({"env.KEY": "value", "credentials.user": "b", "image": "other"})
    assert result.env == {"KEY": "value"}
    assert result.credentials is not None and result.credentials.user == "b"
    assert result.credentials.password.get_secret_value() == "p"
    assert result.image == "other"


def test_a_json_string_is_decoded_only_for_a_field_that_refuses_the_string() -> None:
    result = _Example().with_overrides({"ports": "[80, 443]", "image": "123"})
    assert result.ports == [80, 443]
    assert result.image == "123"


def test_an_unknown_field_is_named_with_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="override 'imag': example blocks have no field 'imag' \\(fields: "):
        _Example().with_overrides({"imag": "x"})


def test_an_invalid_value_names_the_field_and_the_reason() -> None:
    with pytest.raises(ConfigurationError, match=r"invalid override for the example block: ports\.0: "):
        _Example().with_overrides({"ports": '["eighty"]'})
    with pytest.raises(ConfigurationError, match=r"credentials\.colour: Extra inputs are not permitted"):
        _Example(credentials=_Credentials(user="a", password=SecretStr("p"))).with_overrides({"credentials.colour": 1})


def test_the_document_name_survives_overrides() -> None:
    block = _Example()
    block._block_document_name = "saved"
    assert block.with_overrides({"image": "x"}).document_name == "saved"


def test_data_masks_secrets_at_every_depth_unless_asked() -> None:
    block = _Example(token=SecretStr("t"), credentials=_Credentials(user="a", password=SecretStr("p")))
    assert block.data()["token"] == MASK
    assert block.data()["credentials"] == {"user": "a", "password": MASK}
    shown = block.data(include_secrets=True)
    assert shown["token"] == "t"
    assert shown["credentials"]["password"] == "p"
    assert _Example().data()["token"] is None
