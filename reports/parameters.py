"""Validation of report parameters against a type's JSON Schema, with messages a person can act on."""

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError

_FORMAT_CHECKER = FormatChecker()


class ParameterError(Exception):
    """Raised with field messages, keyed by parameter name ("" for the parameters object itself)."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{field or 'parameters'}: {' '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = errors


def _message(error: SchemaError) -> str:
    kind = error.validator
    if kind == "required":
        return "This field is required."
    if kind == "additionalProperties":
        return "Unknown parameter."
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"Must be of type {expected}."
    if kind == "format":
        return f"Must be a valid {error.validator_value} (for a date: YYYY-MM-DD)."
    if kind == "enum":
        return "Must be one of: " + ", ".join(str(choice) for choice in error.validator_value) + "."
    if kind in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        return f"Must be {kind.replace('exclusive', '').lower()} {error.validator_value}."
    if kind in {"maxLength", "minLength", "maxItems", "minItems"}:
        return f"Length must respect {kind} {error.validator_value}."
    if kind == "pattern":
        return "Has an invalid format."
    return error.message


def _field(error: SchemaError) -> str:
    if error.validator == "required":
        # The path points at the object; the missing name is in the message's subject.
        missing = [name for name in error.validator_value if name not in (error.instance or {})]
        prefix = ".".join(str(part) for part in error.absolute_path)
        return ".".join(filter(None, [prefix, missing[0] if missing else ""]))
    if error.validator == "additionalProperties":
        extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        prefix = ".".join(str(part) for part in error.absolute_path)
        return ".".join(filter(None, [prefix, extras[0] if extras else ""]))
    return ".".join(str(part) for part in error.absolute_path)


def schema_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: prop["default"] for name, prop in schema.get("properties", {}).items() if "default" in prop}


def validate_parameters(schema: dict[str, Any], given: Any, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the parameters to use (schema defaults, then admin defaults, then what was given), or raise."""
    if not isinstance(given, dict):
        raise ParameterError({"": ["Must be a JSON object."]})
    merged = {**schema_defaults(schema), **(defaults or {}), **given}
    errors: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema, format_checker=_FORMAT_CHECKER).iter_errors(merged):
        errors.setdefault(_field(error), []).append(_message(error))
    if errors:
        raise ParameterError(errors)
    return merged
