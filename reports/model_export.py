"""Rows of any model as the admin shows them, for the `model_table` report type and the admin's export action.

"What the admin shows" is the model's ModelAdmin `list_display`: the same columns, headers and values as its change
list, so an export never reveals a field that the admin keeps off its lists. Sensitive columns (passwords, secrets,
tokens, keys) are dropped by name even when an admin lists them.
"""

import html
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.utils import display_for_field, display_for_value, label_for_field, lookup_field
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.utils.html import strip_tags
from django.utils.safestring import SafeData

# Words that mark a column as sensitive wherever they appear in its name (split on "_").
SENSITIVE_WORDS = frozenset({"password", "secret", "secrets", "token", "tokens", "key", "hash", "salt", "otp", "pin"})
EMPTY = "—"


class ModelNotExportable(Exception):
    """The model is unknown or not in the admin: there is no "what the admin shows" to export."""


@dataclass(frozen=True)
class Column:
    name: str
    label: str


def is_sensitive(name: str) -> bool:
    return bool(SENSITIVE_WORDS.intersection(re.split(r"[_\W]+", name.lower())))


def model_label(model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def resolve_model(label: str) -> tuple[type[models.Model], admin.ModelAdmin]:
    """The model named "app_label.model_name" and its ModelAdmin on the default admin site."""
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError) as error:
        raise ModelNotExportable(f"There is no model {label!r}.") from error
    model_admin = admin.site._registry.get(model)
    if model_admin is None:
        raise ModelNotExportable(f"The model {label!r} is not in the admin.")
    return model, model_admin


def can_view(user: AbstractBaseUser, model: type[models.Model]) -> bool:
    """The admin's own rule: the view or the change permission."""
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
        f"{opts.app_label}.change_{opts.model_name}"
    )


def exportable_columns(model: type[models.Model], model_admin: admin.ModelAdmin) -> list[Column]:
    columns = []
    for name in model_admin.list_display:
        if not isinstance(name, str) or name == "action_checkbox" or is_sensitive(name):
            continue
        columns.append(Column(name=name, label=str(label_for_field(name, model, model_admin))))
    return columns


def choose_columns(available: list[Column], wanted: Iterable[str]) -> list[Column]:
    """The wanted columns in the order asked, or all of them; raises KeyError naming the first unknown one."""
    wanted = list(wanted)
    if not wanted:
        return available
    by_name = {column.name: column for column in available}
    return [by_name[name] for name in wanted]


def _related_fields(model: type[models.Model], columns: list[Column]) -> list[str]:
    related = []
    for column in columns:
        try:
            field = model._meta.get_field(column.name)
        except FieldDoesNotExist:
            continue
        if field.many_to_one or field.one_to_one:
            related.append(column.name)
    return related


def cell_text(obj: models.Model, name: str, model_admin: admin.ModelAdmin) -> str:
    """The value as the change list shows it, as plain text (booleans as yes/no instead of icons)."""
    try:
        field, attr, value = lookup_field(name, obj, model_admin)
    except (AttributeError, ObjectDoesNotExist):
        return EMPTY
    boolean = isinstance(field, models.BooleanField) or getattr(attr, "boolean", False)
    if boolean:
        return EMPTY if value is None else ("yes" if value else "no")
    shown = display_for_field(value, field, EMPTY) if field is not None else display_for_value(value, EMPTY)
    # HTML that the admin built (a display method's format_html, a file's link) becomes its text; a plain value is
    # kept whole ("Eve <eve@corp.example>"): the PDF's template escapes it.
    text = html.unescape(strip_tags(shown)) if isinstance(shown, SafeData) else str(shown)
    return text.strip() or EMPTY


def rows(
    model: type[models.Model],
    model_admin: admin.ModelAdmin,
    columns: list[Column],
    *,
    ids: list[Any] | None = None,
    filters: dict[str, Any] | None = None,
    chunk_size: int = 500,
) -> Iterator[list[str]]:
    queryset = model._default_manager.all()
    if ids:
        queryset = queryset.filter(pk__in=ids)
    if filters:
        queryset = queryset.filter(**filters)
    related = _related_fields(model, columns)
    if related:
        queryset = queryset.select_related(*related)
    for obj in queryset.order_by("pk").iterator(chunk_size=chunk_size):
        yield [cell_text(obj, column.name, model_admin) for column in columns]
