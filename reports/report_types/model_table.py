"""`model_table`: rows of any model the requester may view, with the columns its admin list shows.

The admin's "Export selected as PDF report" action uses it (reports/admin_export.py); the API offers it too. The
requester needs the model's view (or change) permission, checked when the report is requested and again when it is
built, and only the admin's list columns can be exported, never a sensitive one (reports/model_export.py).
"""

import itertools
import math
from typing import Any

from django.contrib import admin
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.text import capfirst

from reports import model_export
from reports.errors import ReportTypeNotPermitted
from reports.parameters import ParameterError
from reports.pdf_tables import DataTable
from reports.registry import BuildContext, ReportType, register

MAX_IDS = 10_000
# The rows are drawn by ReportLab (`data_table`, reports/pdf_tables.py): 50,000 take well under the type's timeout.
MAX_ROWS = 50_000
# What follows is for the HTML table, when the document is laid out without `data_table` (`table_path=False`).
# Rows per <table>: xhtml2pdf lays a long table out in time that grows faster than its length, so the rows are
# cut into tables of this many (the header repeats on every page either way).
ROWS_PER_TABLE = 100
# From this many tables on, a document is laid out in parts at the same time: below it, forking and joining cost
# more than they save.
MIN_TABLES_TO_SPLIT = 4
# A part of at most this many tables: a child laying out 1,000 rows stays around 100 MB, and xhtml2pdf's time per
# row grows with the length of the document it lays out.
MAX_TABLES_PER_PART = 10


def _check_values(model: type[models.Model], parameters: dict[str, Any]) -> None:
    """Each id and filter value as its field reads it (`to_python`), now rather than in the worker: a wrong one is a
    400 naming it, not a failed report with the database's own words."""
    errors: dict[str, list[str]] = {}
    pk = model._meta.pk
    for index, value in enumerate(parameters.get("ids") or []):
        try:
            pk.to_python(value)
        except ValidationError:
            errors["ids"] = [f"Item {index + 1}, {value!r}, is not a {pk.verbose_name} of {model._meta.verbose_name}."]
            break
    for name, value in (parameters.get("filters") or {}).items():
        field = model._meta.get_field(name)
        if value is None and not field.null:
            errors[f"filters.{name}"] = [f"{field.verbose_name} is never empty; give a value."]
            continue
        try:
            field.to_python(value)
        except ValidationError as error:
            errors[f"filters.{name}"] = [" ".join(str(message) for message in error.messages)]
    if errors:
        raise ParameterError(errors)


@register
class ModelTableReport(ReportType):
    key = "model_table"
    title = "Model table"
    description = "Rows of any model you may view, with the columns its admin list shows."
    template_name = "reports/pdf/model_table.html"
    timeout = 900
    parameters_schema = {
        "type": "object",
        "properties": {
            "model": {
                "type": "string",
                "title": "Model",
                "description": "app_label.model_name, for example auth.user.",
                "pattern": r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$",
                "maxLength": 200,
            },
            "ids": {
                "type": "array",
                "title": "Primary keys",
                "description": "Only these rows; empty for every row.",
                "items": {"type": ["integer", "string"], "maxLength": 200},
                "maxItems": MAX_IDS,
                "default": [],
            },
            "fields": {
                "type": "array",
                "title": "Columns",
                "description": "Column names from the model's admin list, in order; empty for all of them.",
                "items": {"type": "string", "maxLength": 200},
                "maxItems": 50,
                "default": [],
            },
            "filters": {
                "type": "object",
                "title": "Filters",
                "description": 'Exact matches on exported columns, for example {"is_active": true}.',
                "additionalProperties": {"type": ["string", "integer", "boolean", "null"]},
                "maxProperties": 10,
                "default": {},
            },
        },
        "required": ["model"],
        "additionalProperties": False,
    }

    def is_permitted(self, user: AbstractBaseUser) -> bool:
        """Offered to whoever may view at least one model in the admin; `authorize` checks the model asked for."""
        return any(model_export.can_view(user, model) for model in admin.site._registry)

    def clean(self, parameters: dict[str, Any]) -> dict[str, Any]:
        try:
            model, model_admin = model_export.resolve_model(parameters["model"])
        except model_export.ModelNotExportable as error:
            raise ParameterError({"model": [str(error)]}) from error
        available = model_export.exportable_columns(model, model_admin)
        try:
            model_export.choose_columns(available, parameters["fields"])
        except KeyError as error:
            names = ", ".join(column.name for column in available)
            message = f"{error.args[0]!r} is not a column you can export ({names})."
            raise ParameterError({"fields": [message]}) from error
        concrete = {field.name for field in model._meta.concrete_fields}
        filterable = {column.name for column in available} & concrete
        unknown = sorted(set(parameters["filters"]) - filterable)
        if unknown:
            raise ParameterError({"filters": [f"Filter on exported model fields only; not on {', '.join(unknown)}."]})
        _check_values(model, parameters)
        return parameters

    def authorize(self, user: AbstractBaseUser, parameters: dict[str, Any]) -> None:
        model, _ = model_export.resolve_model(parameters["model"])
        if not model_export.can_view(user, model):
            raise ReportTypeNotPermitted(f"You may not view {model._meta.verbose_name_plural}.")

    def may_read_result(self, user: AbstractBaseUser, parameters: dict[str, Any]) -> bool:
        """The rows of a model are for those who may view that model, in the export as in its change list."""
        try:
            model, _ = model_export.resolve_model(parameters.get("model", ""))
        except model_export.ModelNotExportable:
            return user.is_superuser
        return model_export.can_view(user, model)

    def data_table(self, context: dict[str, Any]) -> DataTable | None:
        """Every row in one table drawn by ReportLab; with no rows (or no columns), the template says so on its own."""
        if not context["row_count"] or not context["columns"]:
            return None
        return DataTable(
            headings=[capfirst(column.label) for column in context["columns"]],
            rows=list(itertools.chain.from_iterable(context["tables"])),
        )

    def split_context(self, context: dict[str, Any], parts: int) -> list[dict[str, Any]] | None:
        """Consecutive runs of tables with about as many rows each, once there are enough rows to be worth it: at
        least one per process, and no more than MAX_TABLES_PER_PART tables in any."""
        tables = context["tables"]
        if len(tables) < MIN_TABLES_TO_SPLIT:
            return None
        parts = min(len(tables), max(parts, math.ceil(len(tables) / MAX_TABLES_PER_PART)))
        bounds = [round(index * len(tables) / parts) for index in range(parts + 1)]
        return [{**context, "tables": tables[start:end]} for start, end in itertools.pairwise(bounds)]

    def build(self, context: BuildContext) -> dict[str, Any]:
        parameters = context.parameters
        model, model_admin = model_export.resolve_model(parameters["model"])
        if not model_export.can_view(context.requested_by, model):
            raise PermissionError(f"You may no longer view {model._meta.verbose_name_plural}.")
        columns = model_export.choose_columns(
            model_export.exportable_columns(model, model_admin), parameters.get("fields") or []
        )
        expected = len(parameters["ids"]) if parameters.get("ids") else None
        tables: list[list[list[str]]] = []
        count = 0
        for row in model_export.rows(
            model, model_admin, columns, ids=parameters.get("ids"), filters=parameters.get("filters")
        ):
            if count % ROWS_PER_TABLE == 0:
                tables.append([])
            tables[-1].append(row)
            count += 1
            if count > MAX_ROWS:
                raise ValueError(f"More than {MAX_ROWS:,} rows: choose fewer rows or add filters.")
            if expected and count % 500 == 0:
                context.set_progress(count * 80 // expected)
        return {
            "model_name": model._meta.verbose_name_plural,
            "model_label": model_export.model_label(model),
            "columns": columns,
            "tables": tables,
            "row_count": count,
            "missing": (expected - count) if expected else 0,
            "exported_at": timezone.now(),
        }
