"""Forms generated from JSON schemas, the schedule inputs, and the SVG chart — without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sluice_ui.charts import bucket_runs, runs_over_time_svg
from sluice_ui.forms import PARAM_PREFIX, parse_schema_form, resolve_property, schema_fields
from sluice_ui.schedule_form import form_values, same_schedule, schedule_from_form
from tests.ui.conftest import PARAMETER_SCHEMA


class Form(dict):
    """A posted form: ``getlist`` as Starlette's ``FormData`` has it."""

    def getlist(self, key: str) -> list[str]:
        value = self.get(key)
        return value if isinstance(value, list) else ([] if value is None else [value])


def test_optional_and_referenced_properties_are_unwrapped() -> None:
    optional, nullable = resolve_property({"anyOf": [{"type": "integer"}, {"type": "null"}], "title": "n"}, {})
    assert optional["type"] == "integer" and nullable
    color, _ = resolve_property(PARAMETER_SCHEMA["properties"]["color"], PARAMETER_SCHEMA)
    assert color["enum"] == ["red", "green"]
    union, _ = resolve_property({"anyOf": [{"type": "integer"}, {"type": "string"}]}, {})
    assert "anyOf" in union  # a real union stays, and becomes a JSON field


def test_fields_follow_the_position_order_with_kinds_and_defaults() -> None:
    fields = schema_fields(PARAMETER_SCHEMA, {"count": 4}, PARAM_PREFIX)
    assert [(item.name, item.kind) for item in fields] == [
        ("name", "text"),
        ("count", "integer"),
        ("ratio", "number"),
        ("loud", "boolean"),
        ("color", "select"),
        ("items", "json"),
        ("options", "json"),
    ]
    by_name = {item.name: item for item in fields}
    assert by_name["name"].value == "Marvin" and by_name["count"].value == "4" and by_name["count"].required
    assert by_name["color"].value == '"red"' and by_name["color"].options == [('"red"', "red"), ('"green"', "green")]


def test_parsing_converts_each_kind_and_leaves_empty_inputs_out() -> None:
    form = Form({"param.count": " 12 ", "param.ratio": "2", "param.loud": ["false"], "param.items": "[]"})
    values, _, errors = parse_schema_form(PARAMETER_SCHEMA, form, PARAM_PREFIX)
    assert errors == {}
    assert values == {"count": 12, "ratio": 2, "loud": False, "items": []}


def test_each_wrong_value_gets_its_own_message() -> None:
    form = Form({"param.count": "1.5", "param.ratio": "nan", "param.color": '"blue"', "param.options": "[1]"})
    _, fields, errors = parse_schema_form(PARAMETER_SCHEMA, form, PARAM_PREFIX)
    assert errors["count"] == "must be a whole number, not '1.5'"
    assert errors["ratio"] == "must be a finite number"
    assert "is not one of" in errors["color"]
    assert "is not of type 'object'" in errors["options"]
    assert {item.name: item.error for item in fields}["count"] == errors["count"]


def test_defaults_may_leave_required_parameters_out() -> None:
    values, _, errors = parse_schema_form(PARAMETER_SCHEMA, Form(), PARAM_PREFIX, require_all=False)
    assert errors == {} and values == {"loud": False}


def test_secret_fields_are_never_filled_and_an_empty_one_keeps_the_stored_value() -> None:
    schema = {"properties": {"token": {"type": "string"}}, "required": ["token"]}
    (field,) = schema_fields(schema, {"token": "********"}, "block.", ["token"], stored=["token"])
    assert field.kind == "secret" and field.value == "" and field.stored_secret
    values, _, errors = parse_schema_form(schema, Form({"block.token": ""}), "block.", ["token"], stored=["token"])
    assert values == {} and errors == {}
    _, _, errors = parse_schema_form(schema, Form({"block.token": ""}), "block.", ["token"])
    assert errors == {"token": "is required"}


def test_schedule_inputs_become_schedule_json_checked_by_the_plugins() -> None:
    cron, error = schedule_from_form({"schedule_kind": "cron", "schedule_cron": "0 9 * * 1"})
    assert error is None and cron == {"type": "cron", "cron": "0 9 * * 1"}
    interval, error = schedule_from_form({"schedule_kind": "interval", "schedule_interval": "90"})
    assert error is None and interval == {"type": "interval", "interval": 90}
    assert schedule_from_form({"schedule_kind": "none"}) == (None, None)
    _, error = schedule_from_form({"schedule_kind": "cron", "schedule_cron": "0 25 * * *"})
    assert error and error.startswith("invalid cron schedule")
    _, error = schedule_from_form({"schedule_kind": "interval", "schedule_interval": "often"})
    assert error == "Every (seconds) must be a number, not 'often'"


def test_a_stored_schedule_fills_the_inputs_and_compares_by_meaning() -> None:
    stored = {"type": "cron", "cron": "0 9 * * *", "timezone": "UTC", "day_or": True}
    form = form_values(stored)
    assert form.kind == "cron" and form.fields_of["cron"]["cron"].value == "0 9 * * *"
    assert form.fields_of["cron"]["day_or"].checked
    assert same_schedule(stored, {"type": "cron", "cron": "0 9 * * *"})
    assert not same_schedule(stored, {"type": "cron", "cron": "0 10 * * *"})
    assert same_schedule(None, None) and not same_schedule(stored, None)


def test_every_installed_schedule_type_is_a_kind_with_the_inputs_of_its_schema() -> None:
    form = form_values(None)
    assert [value for value, _ in form.choices] == ["none", "cron", "interval", "rrule", "json"]
    inputs = {item.field.input_name: item for item in form.inputs}
    assert inputs["schedule_cron"].kinds == ["cron"] and inputs["schedule_day_or"].field.kind == "boolean"
    assert inputs["schedule_interval"].field.kind == "number"
    assert inputs["schedule_rrule"].field.kind == "multiline"
    # one time zone input for the three types, after their own fields
    assert inputs["schedule_timezone"].kinds == ["cron", "interval", "rrule"]
    assert form.inputs[-1].field.input_name == "schedule_timezone"


def test_runs_are_bucketed_per_hour_and_drawn_with_state_colours() -> None:
    now = datetime(2030, 1, 1, 12, 30, tzinfo=UTC)
    runs = [(now, "COMPLETED"), (now - timedelta(minutes=20), "FAILED"), (now - timedelta(hours=30), "FAILED")]
    buckets = bucket_runs(runs, now)
    assert len(buckets) == 24 and buckets[-1] == {"COMPLETED": 1, "FAILED": 1} and sum(map(len, buckets)) == 2
    svg = str(runs_over_time_svg(buckets, ["COMPLETED", "FAILED"], now))
    assert svg.startswith("<svg") and 'class="state-completed"' in svg and 'class="state-failed"' in svg
    assert "<title>12:00 UTC: 1 failed</title>" in svg
