"""Loading flows from entrypoints, and the distinct error for each way it can fail."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sluice.errors import (
    EntrypointError,
    FlowFileNotFoundError,
    FlowImportError,
    FlowNotFoundError,
    NotAFlowError,
)
from sluice.flows import Flow, flow, load_flow_from_entrypoint

MARVIN = '''
from sluice import flow

@flow
def say_hi(name: str = "Marvin"):
    """Say hi."""
    return f"Hello {name}!"

def plain():
    return 1
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "marvin.py").write_text(MARVIN)
    return tmp_path


def test_flow_defaults_come_from_the_function() -> None:
    @flow
    def say_hello_world(x: int = 1) -> int:
        """Says hello.

        Details.
        """
        return x

    assert isinstance(say_hello_world, Flow)
    assert say_hello_world.name == "say-hello-world"
    assert say_hello_world.description == "Says hello."
    assert say_hello_world.parameters["properties"]["x"]["default"] == 1


def test_flow_options_are_kept() -> None:
    @flow(name="custom", version="7", retries=2, retry_delay_seconds=1, timeout_seconds=5, description="D")
    def fn() -> None:
        return None

    assert (fn.name, fn.version, fn.retries, fn.retry_delay_seconds, fn.timeout_seconds, fn.description) == (
        "custom",
        "7",
        2,
        1,
        5,
        "D",
    )


def test_file_entrypoint_is_relative_to_the_base_path(project: Path) -> None:
    loaded = load_flow_from_entrypoint("flows/marvin.py:say_hi", project)
    assert loaded.name == "say-hi"


def test_module_entrypoint_is_imported(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "flows" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(project))
    loaded = load_flow_from_entrypoint("flows.marvin:say_hi")
    assert loaded.name == "say-hi"
    sys.modules.pop("flows.marvin", None)
    sys.modules.pop("flows", None)


def test_missing_file_says_so(project: Path) -> None:
    with pytest.raises(FlowFileNotFoundError, match=r"flow file 'flows/nope\.py' does not exist"):
        load_flow_from_entrypoint("flows/nope.py:say_hi", project)


def test_missing_module_says_so() -> None:
    with pytest.raises(FlowFileNotFoundError, match=r"module 'no_such_package\.flows' cannot be found"):
        load_flow_from_entrypoint("no_such_package.flows:say_hi")


def test_missing_function_lists_the_flows_there(project: Path) -> None:
    with pytest.raises(FlowNotFoundError, match=r"no function 'say_bye' in flows/marvin.py \(flows there: say_hi\)"):
        load_flow_from_entrypoint("flows/marvin.py:say_bye", project)


def test_a_plain_function_is_not_a_flow(project: Path) -> None:
    with pytest.raises(
        NotAFlowError, match=r"'plain' in flows/marvin.py is a function, not a flow: decorate it with @flow"
    ):
        load_flow_from_entrypoint("flows/marvin.py:plain", project)


def test_syntax_error_names_file_and_line(project: Path) -> None:
    (project / "flows" / "broken.py").write_text("from sluice import flow\n\n@flow\ndef f(:\n    pass\n")
    with pytest.raises(FlowImportError, match=r"syntax error in flows/broken.py, line 4"):
        load_flow_from_entrypoint("flows/broken.py:f", project)


def test_error_raised_on_import_names_file_and_line(project: Path) -> None:
    (project / "flows" / "raises.py").write_text("x = 1\nraise RuntimeError('boom')\n")
    with pytest.raises(FlowImportError, match=r"importing flows/raises.py failed, line 2: RuntimeError: boom"):
        load_flow_from_entrypoint("flows/raises.py:f", project)


def test_a_prefect_flow_file_says_to_replace_the_imports(project: Path) -> None:
    (project / "flows" / "pf.py").write_text("from prefect import flow\n")
    with pytest.raises(FlowImportError, match=r"flows/pf.py imports 'prefect'.*from sluice import flow"):
        load_flow_from_entrypoint("flows/pf.py:f", project)


def test_flow_file_can_import_its_sibling_modules(project: Path) -> None:
    (project / "flows" / "helper_mod_xyz.py").write_text("VALUE = 42\n")
    (project / "flows" / "uses.py").write_text(
        "from sluice import flow\nimport helper_mod_xyz\n\n@flow\ndef f():\n    return helper_mod_xyz.VALUE\n"
    )
    assert load_flow_from_entrypoint("flows/uses.py:f", project).fn() == 42


@pytest.mark.parametrize("bad", ["flows/marvin.py", "flows/marvin.py:", ":say_hi", "a:b-c"])
def test_malformed_entrypoint_is_explained(bad: str) -> None:
    with pytest.raises(EntrypointError, match=r"use 'path/to/file\.py:function' or 'package\.module:function'"):
        load_flow_from_entrypoint(bad)
