"""A Django form built from a report type's JSON Schema, for the web UI.

The form only turns what the browser sends into typed values (a checkbox into a boolean, a date input into a date);
every rule of the schema (ranges, required names, cross-field checks) is left to `services.report_create`, the same
validation the API gets, and its `ParameterError` is put back on the form's fields.
"""

from datetime import date
from typing import Any

from django import forms

from reports.parameters import ParameterError, schema_defaults
from reports.selectors import AvailableReportType


def _json_type(prop: dict[str, Any]) -> str | None:
    """The property's type, ignoring "null" in a list of types (["string", "null"] is an optional string)."""
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), None)
    return kind


def _label(name: str, prop: dict[str, Any]) -> str:
    return prop.get("title") or name.replace("_", " ").capitalize()


def _bounds(prop: dict[str, Any]) -> dict[str, Any]:
    """min/max attributes for the browser's own number input; the schema check remains the authority."""
    attrs = {}
    for keyword, attr in (("minimum", "min"), ("maximum", "max")):
        if keyword in prop:
            attrs[attr] = prop[keyword]
    return attrs


def _enum_field(prop: dict[str, Any], **common: Any) -> forms.Field:
    values = {str(value): value for value in prop["enum"]}
    choices = [(key, key) for key in values]
    if not common["required"]:
        choices = [("", "—"), *choices]
    return forms.TypedChoiceField(choices=choices, coerce=values.__getitem__, empty_value=None, **common)


def schema_field(name: str, prop: dict[str, Any], *, required: bool) -> forms.Field:
    """One form field for one schema property."""
    kind = _json_type(prop)
    common: dict[str, Any] = {
        "label": _label(name, prop),
        "help_text": prop.get("description", ""),
        "required": required,
    }
    if "enum" in prop:
        return _enum_field(prop, **common)
    if kind == "boolean":
        # An unticked box sends nothing: never "required", and it means False.
        return forms.BooleanField(**{**common, "required": False})
    if kind == "string" and prop.get("format") == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), **common)
    if kind == "integer":
        return forms.IntegerField(widget=forms.NumberInput(attrs={"step": 1, **_bounds(prop)}), **common)
    if kind == "number":
        return forms.FloatField(widget=forms.NumberInput(attrs={"step": "any", **_bounds(prop)}), **common)
    if kind == "string":
        attrs = {
            key: prop[keyword]
            for keyword, key in (("maxLength", "maxlength"), ("minLength", "minlength"))
            if keyword in prop
        }
        return forms.CharField(widget=forms.TextInput(attrs=attrs), strip=True, **common)
    # Arrays, objects and anything else: JSON typed by hand, still checked against the schema by the service.
    return forms.JSONField(widget=forms.Textarea(attrs={"rows": 3, "class": "monospace"}), **common)


class ReportParametersForm(forms.Form):
    """The parameters of one report type; `parameters()` gives the JSON object to pass to `report_create`."""

    def __init__(self, available: AvailableReportType, *args: Any, **kwargs: Any) -> None:
        self.available = available
        schema = available.report_type.parameters_schema
        # What the service would use if the field were left alone: the schema's defaults, then the admin's.
        kwargs.setdefault("initial", {**schema_defaults(schema), **available.default_parameters})
        super().__init__(*args, **kwargs)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            self.fields[name] = schema_field(name, prop, required=name in required)

    def parameters(self) -> dict[str, Any]:
        """Cleaned values as JSON: dates as ISO strings, whole floats as integers, and empty optional fields left
        out so that the defaults apply."""
        values: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if value is None or value == "":
                continue
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            values[name] = value
        return values

    def add_parameter_errors(self, error: ParameterError) -> None:
        """Each message next to its field; messages about the whole object or a name without a field on top."""
        for name, messages in error.errors.items():
            field = name.split(".", 1)[0]
            for message in messages:
                if field in self.fields:
                    self.add_error(field, message)
                else:
                    self.add_error(None, f"{name}: {message}" if name else message)
