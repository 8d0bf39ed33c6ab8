"""Reads. Every query that returns reports is scoped to the user asking, so isolation is not left to the views."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from reports.errors import ReportTypeNotPermitted, ReportTypeUnknown
from reports.ids import looks_like_id
from reports.models import Report, ReportTypeConfig
from reports.registry import ReportType, report_types


@dataclass(frozen=True)
class AvailableReportType:
    """A registered type with the admin's configuration applied."""

    report_type: ReportType
    timeout: int
    retention_days: int
    default_parameters: dict[str, Any]

    @property
    def key(self) -> str:
        return self.report_type.key


def _configs(keys: list[str]) -> dict[str, ReportTypeConfig]:
    return {
        config.key: config
        for config in ReportTypeConfig.objects.filter(key__in=keys).prefetch_related("allowed_groups")
    }


def _resolve(report_type: ReportType, config: ReportTypeConfig | None, user: AbstractBaseUser) -> AvailableReportType:
    if config is not None and not config.enabled:
        raise ReportTypeUnknown(f"The report type {report_type.key!r} is disabled.")
    if not report_type.is_permitted(user):
        raise ReportTypeNotPermitted(f"You may not request {report_type.key!r} reports.")
    if config is not None and not user.is_superuser:
        allowed = {group.pk for group in config.allowed_groups.all()}
        if allowed and not allowed.intersection(user.groups.values_list("pk", flat=True)):
            raise ReportTypeNotPermitted(f"{report_type.key!r} reports are limited to certain groups.")
    return AvailableReportType(
        report_type=report_type,
        timeout=(config.timeout_seconds if config and config.timeout_seconds else report_type.timeout),
        retention_days=(config.retention_days if config and config.retention_days else settings.REPORT_RETENTION_DAYS),
        default_parameters=dict(config.default_parameters) if config else {},
    )


def report_type_for_user(*, user: AbstractBaseUser, key: str) -> AvailableReportType:
    """The type as this user may request it; raises ReportTypeUnknown or ReportTypeNotPermitted."""
    report_type = report_types.get(key) if isinstance(key, str) else None
    if report_type is None:
        raise ReportTypeUnknown(f"There is no report type {key!r}.")
    return _resolve(report_type, _configs([key]).get(key), user)


def report_types_for_user(*, user: AbstractBaseUser) -> list[AvailableReportType]:
    registered = report_types.all()
    configs = _configs([report_type.key for report_type in registered])
    available = []
    for report_type in registered:
        try:
            available.append(_resolve(report_type, configs.get(report_type.key), user))
        except (ReportTypeUnknown, ReportTypeNotPermitted):
            continue
    return available


def report_list(
    *, user: AbstractBaseUser, status: str | None = None, report_type: str | None = None
) -> QuerySet[Report]:
    reports = Report.objects.filter(requested_by=user)
    if status:
        reports = reports.filter(status=status)
    if report_type:
        reports = reports.filter(report_type=report_type)
    return reports.order_by("-created_at", "-id")


def report_get(*, user: AbstractBaseUser, report_id: str) -> Report | None:
    if not looks_like_id(report_id):
        return None
    return Report.objects.filter(requested_by=user, id=report_id).first()


@dataclass(frozen=True)
class ReportTypeLimits:
    timeout: int
    retention_days: int


def report_type_limits(key: str) -> ReportTypeLimits:
    """Timeout and retention for a type, the admin's values first; for jobs that act on behalf of no one user."""
    report_type = report_types.get(key)
    config = ReportTypeConfig.objects.filter(key=key).first()
    return ReportTypeLimits(
        timeout=(config and config.timeout_seconds) or (report_type.timeout if report_type else 300),
        retention_days=(config and config.retention_days) or settings.REPORT_RETENTION_DAYS,
    )
