"""The shared fsspec storage base (sluice.storage): path checks, masking and error wording."""

from __future__ import annotations

import pytest

from sluice.storage import describe_library_error, mask_settings, relative_parts, strip_userinfo


@pytest.mark.parametrize(
    ("path", "parts"),
    [(None, []), ("", []), (".", []), ("a/b", ["a", "b"]), ("a//./b/", ["a", "b"]), ("a\\b", ["a", "b"])],
)
def test_relative_parts_normalises_safe_paths(path: str | None, parts: list[str]) -> None:
    assert relative_parts(path) == parts


@pytest.mark.parametrize("path", ["/abs", "\\\\server\\share", "C:/x", "s3://bucket/x", "..", "a/../../b", "a/.."])
def test_relative_parts_refuses_escaping_paths(path: str) -> None:
    with pytest.raises(ValueError, match=r"absolute|escapes"):
        relative_parts(path)


def test_mask_settings_masks_secret_looking_keys_recursively() -> None:
    settings = {"key": "k", "nested": {"Password": "p", "region": "r"}, "list": [{"token": "t"}], "empty_secret": ""}
    assert mask_settings(settings) == {
        "key": "********",
        "nested": {"Password": "********", "region": "r"},
        "list": [{"token": "********"}],
        "empty_secret": "",
    }


def test_strip_userinfo_removes_credentials_from_urls() -> None:
    assert strip_userinfo("see smb://user:pw@host/share and s3://bucket") == "see smb://host/share and s3://bucket"


@pytest.mark.parametrize(
    ("error", "start"),
    [
        (PermissionError("Forbidden"), "access denied"),
        (FileNotFoundError("x"), "not found"),
        (ConnectionRefusedError("refused"), "cannot reach the server"),
        (RuntimeError("something odd\nwith a second line"), "RuntimeError: something odd"),
    ],
)
def test_library_errors_become_one_line_with_a_hint(error: Exception, start: str) -> None:
    message = describe_library_error(error)
    assert message.startswith(start)
    assert "\n" not in message


def test_a_missing_file_whose_name_holds_an_http_code_is_still_not_found() -> None:
    assert describe_library_error(FileNotFoundError("flows/403-timeout.py")).startswith("not found")


@pytest.mark.parametrize(
    "error",
    [RuntimeError("Server failed to authenticate the request"), OSError("HTTP 403 from server")],
)
def test_access_errors_of_generic_types_are_recognised_by_their_words(error: Exception) -> None:
    assert describe_library_error(error).startswith("access denied")
