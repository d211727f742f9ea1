"""The kubernetes-job block's ``customizations``: an RFC 6902 JSON Patch over the Job manifest.

Checked when the block is made (a malformed patch is refused there), applied by ``build_job()``
after the block's fields; an operation that does not apply fails with the operation and the reason.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sluice.errors import ConfigurationError
from sluice_kubernetes.job import KubernetesJob

CONTAINERS = "/spec/template/spec/containers"


def built(*operations: dict[str, Any]) -> dict[str, Any]:
    """The Job manifest of a default block with ``operations`` as its customizations."""
    return KubernetesJob(customizations=list(operations)).build_job()


def container_names(manifest: dict[str, Any]) -> list[str]:
    return [container["name"] for container in manifest["spec"]["template"]["spec"]["containers"]]


def test_pointer_tokens_are_unescaped() -> None:
    manifest = built(
        {"op": "add", "path": "/metadata/annotations", "value": {}},
        {"op": "add", "path": "/metadata/annotations/example.com~1team", "value": "data"},
        {"op": "add", "path": "/metadata/annotations/a~0b", "value": "tilde"},
    )
    assert manifest["metadata"]["annotations"] == {"example.com/team": "data", "a~b": "tilde"}


def test_add_sets_a_key_inserts_into_an_array_and_appends_with_dash() -> None:
    manifest = built(
        {"op": "add", "path": "/metadata/labels/team", "value": "data"},
        {"op": "add", "path": f"{CONTAINERS}/0", "value": {"name": "first", "image": "busybox"}},
        {"op": "add", "path": f"{CONTAINERS}/-", "value": {"name": "last", "image": "busybox"}},
    )
    assert manifest["metadata"]["labels"] == {"team": "data"}
    assert container_names(manifest) == ["first", "sluice-job", "last"]


def test_remove_replace_move_copy_and_test() -> None:
    manifest = built(
        {"op": "test", "path": f"{CONTAINERS}/0/name", "value": "sluice-job"},
        {"op": "replace", "path": f"{CONTAINERS}/0/name", "value": "engine"},
        {"op": "add", "path": "/metadata/labels/team", "value": "data"},
        {"op": "copy", "from": "/metadata/labels", "path": "/spec/template/metadata/labels"},
        {"op": "move", "from": "/metadata/labels/team", "path": "/metadata/labels/owner"},
        {"op": "remove", "path": "/spec/completions"},
    )
    assert container_names(manifest) == ["engine"]
    assert manifest["metadata"]["labels"] == {"owner": "data"}
    assert manifest["spec"]["template"]["metadata"]["labels"] == {"team": "data"}
    assert "completions" not in manifest["spec"]


def test_a_copied_value_is_independent_of_its_source() -> None:
    manifest = built(
        {"op": "copy", "from": f"{CONTAINERS}/0", "path": f"{CONTAINERS}/-"},
        {"op": "replace", "path": f"{CONTAINERS}/1/name", "value": "sidecar"},
    )
    assert container_names(manifest) == ["sluice-job", "sidecar"]


def test_the_block_is_not_modified_by_a_patch_even_when_a_later_operation_fails() -> None:
    block = KubernetesJob(
        customizations=[
            {"op": "add", "path": f"{CONTAINERS}/0/env/-", "value": {"name": "A", "value": "1"}},
            {"op": "remove", "path": "/spec/backoffLimit"},
            {"op": "remove", "path": "/spec/missing"},
        ]
    )
    job, customizations = copy.deepcopy(block.job), copy.deepcopy(block.customizations)
    with pytest.raises(ConfigurationError):
        block.build_job()
    assert block.job == job
    assert block.customizations == customizations


def test_building_twice_gives_the_same_manifest() -> None:
    block = KubernetesJob(customizations=[{"op": "add", "path": f"{CONTAINERS}/0/env/-", "value": {"name": "A"}}])
    assert block.build_job() == block.build_job()
    assert block.build_job()["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A"}]


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        ({"op": "replace", "path": "/spec/missing", "value": 1}, "path not found: /spec/missing does not exist"),
        (
            {"op": "replace", "path": "/spec/template/spec/affinity/nodeAffinity", "value": {}},
            "path not found: /spec/template/spec/affinity does not exist",
        ),
        ({"op": "remove", "path": "/spec/template/spec/volumes"}, "path not found: /spec/template/spec/volumes does"),
        (
            {"op": "copy", "from": "/spec/missing", "path": "/spec/copied"},
            "path not found: /spec/missing does not exist",
        ),
        (
            {"op": "add", "path": f"{CONTAINERS}/5", "value": {}},
            f"path not found: index 5 of {CONTAINERS} is out of range \\(the array has 1\\)",
        ),
        ({"op": "add", "path": f"{CONTAINERS}/01", "value": {}}, f"invalid array index '01' in {CONTAINERS}"),
        ({"op": "remove", "path": f"{CONTAINERS}/-"}, f"invalid array index '-' in {CONTAINERS}"),
        (
            {"op": "add", "path": "/spec/template/spec/restartPolicy/deeper", "value": 1},
            "cannot add /spec/template/spec/restartPolicy/deeper: its parent is a string, not an object or array",
        ),
        ({"op": "test", "path": "/spec/backoffLimit", "value": "0"}, "test failed: the value is 0, not '0'"),
        ({"op": "move", "from": "/spec", "path": "/spec/inner"}, "cannot move a value into one of its own children"),
        ({"op": "remove", "path": ""}, "can't remove the whole document"),
    ],
)
def test_a_failing_operation_names_itself_and_the_reason(operation: dict[str, Any], message: str) -> None:
    block = KubernetesJob(customizations=[{"op": "test", "path": "/kind", "value": "Job"}, operation])
    pattern = f"^kubernetes-job customizations: operation 1 \\({operation['op']} {operation['path']}\\): {message}"
    with pytest.raises(ConfigurationError, match=pattern):
        block.build_job()


def test_a_failing_operation_does_not_show_the_manifest() -> None:
    # the manifest holds the environment, secrets included: an error names paths, never values
    block = KubernetesJob(
        env={"SLUICE_API_KEY": "s3cret"},
        customizations=[{"op": "replace", "path": "/spec/template/spec/affinity/nodeAffinity", "value": {}}],
    )
    with pytest.raises(ConfigurationError) as caught:
        block.build_job()
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_test_distinguishes_booleans_from_numbers() -> None:
    with pytest.raises(ConfigurationError, match="test failed"):
        built(
            {"op": "add", "path": "/spec/suspend", "value": False}, {"op": "test", "path": "/spec/suspend", "value": 0}
        )
    args = ["python", "-m", "sluice.engine"]
    assert built({"op": "test", "path": f"{CONTAINERS}/0/args", "value": args})


def test_replacing_the_whole_manifest_must_leave_a_job() -> None:
    with pytest.raises(ConfigurationError, match="the result is no longer a Job manifest"):
        built({"op": "replace", "path": "", "value": [1]})
    other = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "other"}, "spec": {}}
    assert built({"op": "replace", "path": "", "value": other}) == other


@pytest.mark.parametrize(
    ("customizations", "message"),
    [
        ([["op", "add"]], "operation 0: must be an object"),
        ([{"path": "/a"}], "operation 0: unknown op None"),
        ([{"op": "test", "path": "/kind", "value": "Job"}, {"op": "copy", "path": "/a"}], "operation 1 .*'from'"),
        ([{"op": "move", "from": "a", "path": "/b"}], "operation 0 .*from.*'a'.*start with '/'"),
        ([{"op": "remove", "path": 3}], "operation 0 .*a JSON pointer must be a string"),
        ([{"op": "remove", "path": "/a~2b"}], "operation 0 .*invalid JSON pointer '/a~2b'.*~0.*~1"),
    ],
)
def test_a_malformed_patch_is_refused_when_the_block_is_made(customizations: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=f"invalid kubernetes-job block: customizations: .*{message}"):
        KubernetesJob.from_data({"customizations": customizations})
