"""The RFC 6902 JSON Patch used by the kubernetes-job block's ``customizations``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sluice_kubernetes.jsonpatch import JsonPatchError, apply_patch, parse_pointer, validate_patch

DOCUMENT: dict[str, Any] = {"spec": {"containers": [{"name": "a"}, {"name": "b"}], "labels": {"x": "1"}}}


def test_pointer_tokens_are_unescaped() -> None:
    assert parse_pointer("") == []
    assert parse_pointer("/a~1b/~0c/0") == ["a/b", "~c", "0"]


def test_add_sets_a_key_inserts_into_an_array_and_appends_with_dash() -> None:
    patched = apply_patch(
        DOCUMENT,
        [
            {"op": "add", "path": "/spec/labels/y", "value": "2"},
            {"op": "add", "path": "/spec/containers/1", "value": {"name": "inserted"}},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "last"}},
        ],
    )
    assert patched["spec"]["labels"] == {"x": "1", "y": "2"}
    assert [c["name"] for c in patched["spec"]["containers"]] == ["a", "inserted", "b", "last"]


def test_remove_replace_move_copy_and_test() -> None:
    patched = apply_patch(
        DOCUMENT,
        [
            {"op": "test", "path": "/spec/containers/0/name", "value": "a"},
            {"op": "replace", "path": "/spec/containers/0/name", "value": "engine"},
            {"op": "copy", "from": "/spec/labels", "path": "/metadata"},
            {"op": "move", "from": "/spec/labels/x", "path": "/spec/labels/z"},
            {"op": "remove", "path": "/spec/containers/1"},
        ],
    )
    assert patched == {"spec": {"containers": [{"name": "engine"}], "labels": {"z": "1"}}, "metadata": {"x": "1"}}


def test_the_input_document_is_never_modified_even_when_a_later_operation_fails() -> None:
    original = copy.deepcopy(DOCUMENT)
    with pytest.raises(JsonPatchError):
        apply_patch(DOCUMENT, [{"op": "remove", "path": "/spec/labels"}, {"op": "remove", "path": "/missing"}])
    assert original == DOCUMENT


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        ({"op": "replace", "path": "/spec/missing", "value": 1}, "path not found: /spec/missing does not exist"),
        ({"op": "add", "path": "/spec/containers/5", "value": 1}, "index 5 of /spec/containers is out of range"),
        ({"op": "add", "path": "/spec/containers/01", "value": 1}, "invalid array index '01'"),
        ({"op": "remove", "path": "/spec/containers/-"}, "invalid array index '-'"),
        ({"op": "add", "path": "/spec/labels/x/deeper", "value": 1}, "its parent is a string"),
        ({"op": "test", "path": "/spec/labels/x", "value": 1}, "test failed: the value is '1', not 1"),
        ({"op": "move", "from": "/spec", "path": "/spec/inner"}, "cannot move a value into one of its own children"),
    ],
)
def test_a_failing_operation_names_itself_and_the_reason(operation: dict[str, Any], message: str) -> None:
    with pytest.raises(JsonPatchError, match=f"operation 0 \\({operation['op']} .*{message}"):
        apply_patch(DOCUMENT, [operation])


def test_test_distinguishes_booleans_from_numbers() -> None:
    with pytest.raises(JsonPatchError, match="test failed"):
        apply_patch({"a": True}, [{"op": "test", "path": "/a", "value": 1}])
    assert apply_patch({"a": [1, {"b": None}]}, [{"op": "test", "path": "/a", "value": [1, {"b": None}]}])


def test_replacing_the_whole_document_with_an_empty_path() -> None:
    assert apply_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}]) == [1]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("not a list", "must be a list of operations"),
        ([["op", "add"]], "operation 0: must be an object"),
        ([{"path": "/a"}], "unknown op None"),
        ([{"op": "copy", "path": "/a"}], "the member 'from' is required"),
        ([{"op": "move", "from": "a", "path": "/b"}], "from: invalid JSON pointer 'a'"),
        ([{"op": "remove", "path": 3}], "a JSON pointer must be a string"),
    ],
)
def test_validate_patch_rejects_malformed_patches(patch: Any, message: str) -> None:
    with pytest.raises(JsonPatchError, match=message):
        validate_patch(patch)
