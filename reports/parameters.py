"""Validation of report parameters against a type's JSON Schema, with messages a person can act on."""

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError

_FORMAT_CHECKER = FormatChecker()


class ParameterError(Exception):
    """Raised with field messages, keyed by parameter name ("" for the parameters object itself)."""

    def __init__(self, errors: dict[str, list[str]], prefix: str = "parameters"):
        super().__init__("; ".join(f"{field or 'parameters'}: {' '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = errors
        # Where the fields sit in the request body: "parameters" for a type's parameters, "" for top-level fields.
        self.prefix = prefix

    def field_errors(self) -> dict[str, list[str]]:
        """The messages keyed by each field's path in the request body ("parameters.start_date", "cron")."""
        return {".".join(filter(None, [self.prefix, field])): messages for field, messages in self.errors.items()}


_BOUNDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "greater than",
    "exclusiveMaximum": "less than",
}


def _message(error: SchemaError) -> str:
    kind = error.validator
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return f"Must be of type {expected}."
    if kind == "format":
        return f"Must be a valid {error.validator_value} (for a date: YYYY-MM-DD)."
    if kind == "enum":
        return "Must be one of: " + ", ".join(str(choice) for choice in error.validator_value) + "."
    if kind in _BOUNDS:
        return f"Must be {_BOUNDS[kind]} {error.validator_value}."
    if kind in {"maxLength", "minLength", "maxItems", "minItems"}:
        return f"Length must respect {kind} {error.validator_value}."
    if kind == "pattern":
        return "Has an invalid format."
    return error.message


def _field_errors(error: SchemaError) -> list[tuple[str, str]]:
    """(field, message) pairs for one schema error; one error can name several fields."""
    prefix = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        missing = [name for name in error.validator_value if name not in instance]
        return [(".".join([*prefix, name]), "This field is required.") for name in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return [(".".join([*prefix, name]), "Unknown parameter.") for name in extras]
    return [(".".join(prefix), _message(error))]


def schema_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: prop["default"] for name, prop in schema.get("properties", {}).items() if "default" in prop}


def validate_parameters(schema: dict[str, Any], given: Any, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the parameters to use (schema defaults, then admin defaults, then what was given), or raise."""
    if not isinstance(given, dict):
        raise ParameterError({"": ["Must be a JSON object."]})
    merged = {**schema_defaults(schema), **(defaults or {}), **given}
    errors: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema, format_checker=_FORMAT_CHECKER).iter_errors(merged):
        for field, message in _field_errors(error):
            # jsonschema reports each missing required name as its own error of the same keyword: keep one.
            if message not in errors.setdefault(field, []):
                errors[field].append(message)
    if errors:
        raise ParameterError(errors)
    return merged
