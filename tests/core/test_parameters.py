"""Parameter schemas from signatures, docstring descriptions, and validation/coercion of values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from sluice.errors import ParameterError
from sluice.parameters import (
    bind_arguments,
    call_with_parameters,
    docstring_summary,
    extra_keywords_parameter,
    parameter_descriptions,
    parameter_schema,
    validate_parameters,
)


class Point(BaseModel):
    """A point."""

    x: int
    y: int = 0


def google_style(name: str = "Marvin", count: int = 1, point: Point | None = None, **kwargs: Any) -> None:
    """Greet someone.

    More text here.

    Args:
        name: Who to greet.
        count (int): How many
            times to greet.
        point: Where.

    Returns:
        Nothing.
    """


def numpy_style(a: int, b: list[float], flag: bool = False) -> None:
    """Numpy docstring.

    Parameters
    ----------
    a : int
        The first one.
    b : list of float
        The second one,
        on two lines.

    Returns
    -------
    None
    """


def gather(prefix: str, *items: int, **options: str) -> tuple[str, tuple[int, ...], dict[str, str]]:
    """Variadic parameters named neither args nor kwargs.

    Args:
        prefix: Goes first.
        *items: Numbers to gather.
        **options: Settings by name.
    """
    return prefix, items, options


def test_schema_has_prefect_layout_with_types_defaults_and_positions() -> None:
    schema = parameter_schema(google_style)
    assert schema["title"] == "Parameters"
    assert schema["type"] == "object"
    assert schema["required"] == []
    name = schema["properties"]["name"]
    assert name == {
        "title": "name",
        "default": "Marvin",
        "type": "string",
        "description": "Who to greet.",
        "position": 0,
    }
    assert schema["properties"]["count"]["type"] == "integer"
    assert schema["properties"]["count"]["default"] == 1


def test_schema_takes_descriptions_from_google_docstrings_across_lines() -> None:
    schema = parameter_schema(google_style)
    assert schema["properties"]["count"]["description"] == "How many times to greet."
    assert schema["properties"]["point"]["description"] == "Where."


def test_schema_takes_descriptions_from_numpy_docstrings() -> None:
    schema = parameter_schema(numpy_style)
    assert schema["properties"]["a"]["description"] == "The first one."
    assert schema["properties"]["b"]["description"] == "The second one, on two lines."
    assert schema["required"] == ["a", "b"]
    assert schema["properties"]["b"]["items"] == {"type": "number"}


def test_pydantic_models_go_to_definitions_with_refs() -> None:
    schema = parameter_schema(google_style)
    assert {"$ref": "#/definitions/Point"} in schema["properties"]["point"]["anyOf"]
    assert schema["definitions"]["Point"]["properties"]["x"]["type"] == "integer"
    assert schema["definitions"]["Point"]["required"] == ["x"]


def test_kwargs_is_an_object_named_after_it() -> None:
    schema = parameter_schema(google_style)
    assert schema["properties"]["kwargs"] == {"title": "kwargs", "type": "object", "variadic": "keyword", "position": 3}


def test_a_var_keyword_parameter_of_any_name_is_a_marked_object_named_after_it() -> None:
    schema = parameter_schema(gather)
    assert schema["properties"]["options"] == {
        "title": "options",
        "description": "Settings by name.",
        "type": "object",
        "variadic": "keyword",
        "position": 2,
    }


def test_a_var_positional_parameter_of_any_name_is_a_marked_array_named_after_it() -> None:
    schema = parameter_schema(gather)
    assert schema["properties"]["items"] == {
        "title": "items",
        "description": "Numbers to gather.",
        "type": "array",
        "variadic": "positional",
        "position": 1,
    }
    assert schema["required"] == ["prefix"]


def test_extra_keywords_parameter_is_the_var_keyword_parameter_whatever_its_name() -> None:
    assert extra_keywords_parameter(parameter_schema(gather)) == "options"
    assert extra_keywords_parameter(parameter_schema(google_style)) == "kwargs"


def test_extra_keywords_parameter_is_none_without_a_var_keyword_parameter() -> None:
    def only_items(*kwargs: int) -> None:  # a *kwargs takes no extra names
        return None

    assert extra_keywords_parameter(parameter_schema(numpy_style)) is None
    assert extra_keywords_parameter(parameter_schema(only_items)) is None
    assert extra_keywords_parameter(None) is None


def test_extra_keywords_parameter_of_an_unmarked_prefect_schema_is_kwargs() -> None:
    prefect = {
        "properties": {"name": {"title": "name", "type": "string"}, "kwargs": {"title": "kwargs", "type": "object"}}
    }
    assert extra_keywords_parameter(prefect) == "kwargs"
    assert extra_keywords_parameter({"properties": {"options": {"title": "options", "type": "object"}}}) is None


def test_unannotated_parameters_and_non_json_defaults_are_described_without_type() -> None:
    sentinel = object()

    def fn(a, b=sentinel):  # type: ignore[no-untyped-def]
        return a

    schema = parameter_schema(fn)
    assert schema["properties"]["a"] == {"title": "a", "position": 0}
    assert "default" not in schema["properties"]["b"]
    assert schema["required"] == ["a"]


def test_parameter_named_like_a_pydantic_attribute_works() -> None:
    def fn(json: str = "x", schema: int = 1) -> None:
        return None

    properties = parameter_schema(fn)["properties"]
    assert properties["json"]["type"] == "string"
    assert validate_parameters(fn, {"json": "y", "schema": "2"}) == {"json": "y", "schema": 2}


def test_docstring_summary_is_the_first_paragraph_on_one_line() -> None:
    assert docstring_summary(google_style.__doc__) == "Greet someone."
    assert docstring_summary("  A long\n  summary.\n\n  Rest.") == "A long summary."
    assert docstring_summary(None) is None
    assert parameter_descriptions(None) == {}


def google_details(a: int, b: int = 0, c: int = 0, **options: str) -> None:
    """Google style, with the section's other spellings and layouts.

    Arguments:
        a: First.
        b (int, optional): Second,
            continued.

            After a blank line.
        c:
            Only on the next line.
        **options: Settings.

    Raises:
        ValueError: Not a parameter.

    Example:
        options: not a parameter either.
    """


def numpy_details(a: int, *items: int, flag: bool = False, b: str = "") -> int:
    """NumPy style, with other parameters and a parameter without text.

    Parameters
    ----------
    a : int
        First.
    *items : int
        Items.
    flag : bool

    Other Parameters
    ----------------
    b : str
        Other.

    Returns
    -------
    result : int
        Not a parameter.
    """
    return a


def undocumented(a: int, b: int = 0) -> None:
    """A summary, and text with a colon: but no parameter section.

    a: not a parameter section either.
    """


def descriptions_in(fn: Any) -> dict[str, str]:
    """The description of each parameter in ``fn``'s schema that has one."""
    properties = parameter_schema(fn)["properties"]
    return {name: prop["description"] for name, prop in properties.items() if "description" in prop}


def test_google_descriptions_under_arguments_stop_at_the_next_section() -> None:
    assert descriptions_in(google_details) == {
        "a": "First.",
        "b": "Second, continued. After a blank line.",
        "c": "Only on the next line.",
        "options": "Settings.",
    }


def test_numpy_descriptions_include_other_parameters_and_stop_at_returns() -> None:
    assert descriptions_in(numpy_details) == {"a": "First.", "items": "Items.", "flag": "", "b": "Other."}


def rest_style(a: int, b: dict[str, int] | None = None) -> None:
    """reST (Sphinx) style.

    :param a: First.
    :param b: Second,
        continued.
    :returns: Nothing.
    """


def google_nested_types(a: dict[str, int], b: list[int]) -> None:
    """Google style with parentheses inside a type.

    Args:
        a (dict(str, int)): A mapping.
        b (list[int]): A list.
    """


def test_rest_descriptions_come_from_param_fields() -> None:
    assert descriptions_in(rest_style) == {"a": "First.", "b": "Second, continued."}


def test_a_google_type_may_hold_parentheses() -> None:
    assert descriptions_in(google_nested_types) == {"a": "A mapping.", "b": "A list."}


def test_a_docstring_the_parser_cannot_read_describes_no_parameter() -> None:
    def stray_colons(a: int) -> None:
        """Greet.

        : : a line the reST reader stumbles on.
        """

    assert descriptions_in(stray_colons) == {}
    assert parameter_schema(stray_colons)["required"] == ["a"]


def test_a_docstring_without_a_parameter_section_describes_no_parameter() -> None:
    assert descriptions_in(undocumented) == {}
    assert parameter_descriptions("Just a summary.") == {}
    assert parameter_descriptions("") == {}


def test_validation_coerces_values_to_the_annotated_types() -> None:
    values = validate_parameters(google_style, {"count": "3", "point": {"x": "2"}})
    assert values["count"] == 3
    assert values["point"] == Point(x=2, y=0)
    assert "name" not in values  # defaults are left to the function


def test_validation_error_names_the_parameter_and_value() -> None:
    with pytest.raises(ParameterError, match=r"parameter 'count': Input should be a valid integer.*got 'many'"):
        validate_parameters(google_style, {"count": "many"})


def test_validation_error_names_nested_fields() -> None:
    with pytest.raises(ParameterError, match=r"parameter 'point' \(x\)"):
        validate_parameters(google_style, {"point": {"x": "nope"}})


def test_unknown_parameter_is_rejected_when_there_is_no_kwargs() -> None:
    with pytest.raises(
        ParameterError, match=r"unknown parameter 'c' for flow function 'numpy_style' \(its parameters: a, b, flag\)"
    ):
        validate_parameters(numpy_style, {"a": 1, "b": [], "c": 3})


def test_unknown_parameters_go_to_kwargs_when_there_is_one() -> None:
    assert validate_parameters(google_style, {"extra": 1})["kwargs"] == {"extra": 1}


def test_unknown_parameters_go_to_the_var_keyword_parameter_whatever_its_name() -> None:
    assert validate_parameters(gather, {"prefix": "p", "colour": "red"}) == {
        "prefix": "p",
        "options": {"colour": "red"},
    }


def test_unknown_parameters_join_the_ones_given_to_the_var_keyword_parameter() -> None:
    values = validate_parameters(gather, {"prefix": "p", "options": {"size": "L"}, "colour": "red"})
    assert values["options"] == {"size": "L", "colour": "red"}


def test_var_positional_values_are_coerced_whatever_its_name() -> None:
    assert validate_parameters(gather, {"prefix": "p", "items": ["1", 2]})["items"] == [1, 2]


def test_var_keyword_values_are_checked_against_their_annotation() -> None:
    with pytest.raises(ParameterError, match=r"parameter 'options' \(colour\): Input should be a valid string"):
        validate_parameters(gather, {"prefix": "p", "colour": 5})


def test_bind_arguments_names_items_and_options_after_the_parameters() -> None:
    bound = bind_arguments(gather, ("p", 1, 2), {"colour": "red"})
    assert bound == {"prefix": "p", "items": [1, 2], "options": {"colour": "red"}}


def test_call_with_parameters_spreads_items_and_options_after_validation() -> None:
    values = validate_parameters(gather, {"prefix": "p", "items": ["1"], "colour": "red"})
    assert call_with_parameters(gather, values) == ("p", (1,), {"colour": "red"})


def test_missing_required_parameters_are_named() -> None:
    with pytest.raises(ParameterError, match="parameter 'a' is required; parameter 'b' is required"):
        validate_parameters(numpy_style, {})


def test_call_with_parameters_spreads_args_and_kwargs() -> None:
    def fn(a: int, *rest: int, k: int = 1, **extra: int) -> tuple[Any, ...]:
        return a, rest, k, extra

    assert call_with_parameters(fn, {"a": 1, "rest": [2, 3], "extra": {"z": 4}}) == (1, (2, 3), 1, {"z": 4})


FLOW_WITH_A_DOCSTRING = '''
from sluice import flow


@flow
def greet(name: str = "Marvin") -> None:
    """Greet someone.

    Args:
        name: Who to greet.
    """
'''


def test_only_making_a_schema_parses_docstrings(tmp_path: Path) -> None:
    # the library is imported on first use: defining or running a flow and the CLI's help go without it
    (tmp_path / "greeting.py").write_text(FLOW_WITH_A_DOCSTRING)
    script = (
        "import sys, greeting\n"
        "greeting.greet.validate_parameters({'name': 'Arthur'})\n"
        "print('docstring_parser' in sys.modules)\n"
        "greeting.greet.parameters\n"
        "print('docstring_parser' in sys.modules)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True
    )
    assert ran.stdout.split() == ["False", "True"]
    sluice = str(Path(sys.executable).with_name("sluice"))
    helped = subprocess.run(
        [sys.executable, "-X", "importtime", sluice, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert "| typer" in helped.stderr
    assert "docstring_parser" not in helped.stderr
