"""Parameters: validation against a type's JSON Schema with messages a person can act on (reports.parameters), and
report_activity's checks across fields."""

from datetime import date

import pytest
from django.utils import timezone

from reports.parameters import ParameterError, validate_parameters
from reports.registry import report_types

SCHEMA = {
    "type": "object",
    "properties": {
        "flag": {"type": "boolean", "default": True},
        "count": {"type": "integer", "minimum": 1, "maximum": 10, "default": 5},
        "label": {"type": "string", "default": "plain"},
        "ratio": {"type": ["number", "null"]},
        "day": {"type": "string", "format": "date"},
        "colour": {"type": "string", "enum": ["red", "green"]},
        "name": {"type": "string", "minLength": 2, "maxLength": 5},
        "tags": {"type": "array", "minItems": 1, "maxItems": 2},
        "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "above": {"type": "number", "exclusiveMinimum": 0},
        "below": {"type": "number", "exclusiveMaximum": 100},
        "step": {"type": "integer", "multipleOf": 5},
        "nested": {"type": "object", "properties": {"inner": {"type": "integer"}}, "required": ["inner"]},
    },
    "additionalProperties": False,
}


def errors_of(schema, given, defaults=None) -> dict[str, list[str]]:
    with pytest.raises(ParameterError) as raised:
        validate_parameters(schema, given, defaults=defaults)
    return raised.value.errors


# --- Defaults -----------------------------------------------------------------------------------------------------


def test_schema_defaults_fill_what_is_not_given():
    assert validate_parameters(SCHEMA, {}) == {"flag": True, "count": 5, "label": "plain"}


def test_admin_defaults_override_schema_defaults_and_given_values_override_both():
    # Given schema defaults (count 5, flag True), admin defaults (count 7, label "admin") and given values
    admin = {"count": 7, "label": "admin"}
    given = {"count": 9}

    # When they are merged
    merged = validate_parameters(SCHEMA, given, defaults=admin)

    # Then given > admin > schema, and the inputs are left as they were
    assert merged == {"flag": True, "count": 9, "label": "admin"}
    assert admin == {"count": 7, "label": "admin"}
    assert given == {"count": 9}


def test_admin_defaults_apply_without_given_values():
    assert validate_parameters(SCHEMA, {}, defaults={"count": 7}) == {"flag": True, "count": 7, "label": "plain"}


def test_invalid_admin_default_is_reported_on_its_field():
    assert errors_of(SCHEMA, {}, defaults={"count": "seven"}) == {"count": ["Must be of type integer."]}


def test_type_without_parameters_accepts_an_empty_object():
    schema = {"type": "object", "properties": {}, "additionalProperties": False}

    assert validate_parameters(schema, {}) == {}
    assert errors_of(schema, {"x": 1}) == {"x": ["Unknown parameter."]}


# --- Messages per validator kind ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"flag": "yes"}, "flag", "Must be of type boolean."),
        ({"ratio": "half"}, "ratio", "Must be of type number or null."),
        ({"day": "2026-02-30"}, "day", "Must be a valid date (for a date: YYYY-MM-DD)."),
        ({"day": "20260101"}, "day", "Must be a valid date (for a date: YYYY-MM-DD)."),
        ({"colour": "blue"}, "colour", "Must be one of: red, green."),
        ({"count": 0}, "count", "Must be at least 1."),
        ({"count": 11}, "count", "Must be at most 10."),
        ({"name": "a"}, "name", "Length must respect minLength 2."),
        ({"name": "abcdef"}, "name", "Length must respect maxLength 5."),
        ({"tags": []}, "tags", "Length must respect minItems 1."),
        ({"tags": [1, 2, 3]}, "tags", "Length must respect maxItems 2."),
        ({"code": "abc"}, "code", "Has an invalid format."),
        ({"step": 7}, "step", "7 is not a multiple of 5"),
        ({"nested": {}}, "nested.inner", "This field is required."),
        ({"nested": {"inner": "x"}}, "nested.inner", "Must be of type integer."),
        ({"colour_typo": "red"}, "colour_typo", "Unknown parameter."),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_message_per_validator_kind(given, field, message):
    # When one value breaks one rule, the error names that field with a message for that rule
    assert errors_of(SCHEMA, given) == {field: [message]}


def test_missing_required_parameter_is_named():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}

    assert errors_of(schema, {}) == {"a": ["This field is required."]}


def test_every_broken_field_is_reported_at_once():
    # When several values are wrong
    errors = errors_of(SCHEMA, {"flag": "yes", "count": 11, "colour": "blue"})

    # Then each is reported with its own message
    assert errors == {
        "flag": ["Must be of type boolean."],
        "count": ["Must be at most 10."],
        "colour": ["Must be one of: red, green."],
    }


def test_exception_text_joins_the_messages():
    error = ParameterError({"flag": ["Must be of type boolean."], "": ["Must be a JSON object."]})

    assert str(error) == "flag: Must be of type boolean.; parameters: Must be a JSON object."


def test_every_missing_required_parameter_is_named():
    # Given a type that requires both a and b
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "required": ["a", "b"],
    }

    # When neither is given
    errors = errors_of(schema, {})

    # Then both are named, each once
    assert errors == {"a": ["This field is required."], "b": ["This field is required."]}


def test_every_unknown_parameter_is_named():
    # When two unknown parameters are given
    errors = errors_of(SCHEMA, {"size": 1, "shape": 2})

    # Then both are named
    assert errors == {"shape": ["Unknown parameter."], "size": ["Unknown parameter."]}


def test_exclusive_bounds_are_not_described_as_inclusive():
    # Given 0 is refused by exclusiveMinimum 0 and 100 by exclusiveMaximum 100
    errors = errors_of(SCHEMA, {"above": 0, "below": 100})

    # Then the messages must not say that 0 and 100 are the allowed minimum and maximum, as they do for the
    # inclusive `minimum`/`maximum` ("Must be at least 1." for count)
    assert errors["above"] != ["Must be minimum 0."]
    assert errors["below"] != ["Must be maximum 100."]


@pytest.mark.parametrize("given", [[], ["flag"], "flag=true", None, 1, True])
def test_parameters_that_are_not_an_object_are_refused(given):
    with pytest.raises(ParameterError) as raised:
        validate_parameters(SCHEMA, given)

    assert raised.value.errors == {"": ["Must be a JSON object."]}
    assert str(raised.value) == "parameters: Must be a JSON object."


# --- report_activity's clean --------------------------------------------------------------------------------------


@pytest.fixture
def activity():
    return report_types.get("report_activity")


@pytest.fixture
def today(monkeypatch) -> date:
    """Freeze "today" as report_activity sees it."""
    frozen = date(2026, 3, 15)
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: frozen)
    return frozen


def test_activity_defaults_to_the_last_30_days(activity, today):
    assert activity.clean({}) == {"start_date": "2026-02-14", "end_date": "2026-03-15"}


def test_activity_with_only_an_end_covers_the_30_days_before_it(activity, today):
    assert activity.clean({"end_date": "2026-01-31"}) == {"start_date": "2026-01-02", "end_date": "2026-01-31"}


def test_activity_with_only_a_start_runs_to_today(activity, today):
    assert activity.clean({"start_date": "2025-12-01"}) == {"start_date": "2025-12-01", "end_date": "2026-03-15"}


def test_activity_with_only_a_start_after_today_is_refused(activity, today):
    with pytest.raises(ParameterError) as raised:
        activity.clean({"start_date": "2026-03-16"})

    assert raised.value.errors == {"start_date": ["Must not be after end_date."]}


def test_activity_single_day_is_accepted(activity):
    assert activity.clean({"start_date": "2026-03-01", "end_date": "2026-03-01"}) == {
        "start_date": "2026-03-01",
        "end_date": "2026-03-01",
    }


def test_activity_start_after_end_is_refused(activity):
    with pytest.raises(ParameterError) as raised:
        activity.clean({"start_date": "2026-03-02", "end_date": "2026-03-01"})

    assert raised.value.errors == {"start_date": ["Must not be after end_date."]}


def test_activity_range_of_366_days_is_accepted(activity):
    # 2024 is a leap year: 1 January to 31 December is 366 days
    assert activity.clean({"start_date": "2024-01-01", "end_date": "2024-12-31"}) == {
        "start_date": "2024-01-01",
        "end_date": "2024-12-31",
    }


def test_activity_range_over_366_days_is_refused(activity):
    with pytest.raises(ParameterError) as raised:
        activity.clean({"start_date": "2024-01-01", "end_date": "2025-01-01"})

    assert raised.value.errors == {"end_date": ["The range may cover at most 366 days."]}
