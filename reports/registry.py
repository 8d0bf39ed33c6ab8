"""The registry of report types.

A report type is a class with a key, a title, a JSON Schema for its parameters, a template, and a `build` method
that returns the template's context. Host projects add their own in a `report_types` module of any installed app,
found by autodiscovery at start-up the way the admin finds `admin` modules (see docs/report-types.md).
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser
from django.utils.module_loading import autodiscover_modules

if TYPE_CHECKING:
    from reports.pdf_tables import DataTable


@dataclass
class BuildContext:
    """What a builder may use: the validated parameters, who asked, and a way to report progress."""

    report_id: str
    parameters: dict[str, Any]
    requested_by: AbstractBaseUser
    set_progress: Callable[[int], None]


class ReportType(ABC):
    key: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    template_name: ClassVar[str]
    parameters_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}
    # A Django permission ("app_label.codename") the requester must hold, or None for every signed-in user.
    required_permission: ClassVar[str | None] = None
    # Seconds the render may take before the worker stops it; admins may override it per type.
    timeout: ClassVar[int] = 300
    # Jobs run inside the warm worker process. True renders this type in a forked child instead, for builders
    # whose memory or native code should not stay in the worker (reports/worker.py).
    isolated: ClassVar[bool] = False

    def clean(self, parameters: dict[str, Any]) -> dict[str, Any]:
        """Checks across fields that a schema cannot express; raise ParameterError. Returns the parameters."""
        return parameters

    def authorize(self, user: AbstractBaseUser, parameters: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Checks that depend on who asks for these parameters; raise ReportTypeNotPermitted (403)."""

    def may_read_result(self, user: AbstractBaseUser, parameters: dict[str, Any]) -> bool:
        """Whether someone other than the requester, allowed to view reports in the admin, may also read this
        report's file: a type whose document shows data with permissions of its own says no to those without."""
        return True

    def split_context(self, context: dict[str, Any], parts: int) -> list[dict[str, Any]] | None:
        """For big documents: the context cut into at most `parts` consecutive parts, laid out at the same time in
        processes of their own and joined (reports/pdf_parts.py). None (the default) lays the document out whole.
        Every part is rendered with the type's template; parts after the first get `continuation` = True."""
        return None

    def data_table(self, context: dict[str, Any]) -> "DataTable | None":
        """For a document that is mostly one long table: its headings and rows, drawn by ReportLab in the place the
        template marks with `table_placeholder` (reports/pdf_tables.py), many times faster than xhtml2pdf lays out
        an HTML table. None (the default) lays the whole template out with xhtml2pdf."""
        return None

    @abstractmethod
    def build(self, context: BuildContext) -> dict[str, Any]:
        """Gather the data and return the template context."""

    def is_permitted(self, user: AbstractBaseUser) -> bool:
        return self.required_permission is None or user.has_perm(self.required_permission)


class ReportTypeRegistry:
    def __init__(self) -> None:
        self._types: dict[str, ReportType] = {}

    def register(self, cls: type[ReportType]) -> type[ReportType]:
        """Class decorator. The key must be unique: a clash is a programming error caught at start-up."""
        if cls.key in self._types and type(self._types[cls.key]) is not cls:
            raise ValueError(f"Report type {cls.key!r} is already registered by {type(self._types[cls.key])}.")
        self._types[cls.key] = cls()
        return cls

    def unregister(self, key: str) -> None:
        self._types.pop(key, None)

    def get(self, key: str) -> ReportType | None:
        return self._types.get(key)

    def all(self) -> list[ReportType]:
        return sorted(self._types.values(), key=lambda report_type: report_type.key)


report_types = ReportTypeRegistry()
register = report_types.register


def autodiscover() -> None:
    autodiscover_modules("report_types")
