"""Reads. Every query that returns reports is scoped to the user asking, so isolation is not left to the views."""

import copy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from common import access_cache
from common.ids import looks_like_id
from reports.errors import ReportTypeNotPermitted, ReportTypeUnknown
from reports.links import download_owner
from reports.models import Report, ReportStatus, ReportTypeConfig
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


@dataclass(frozen=True)
class ReportTypeSettings:
    """A ReportTypeConfig row as the lookups need it: plain values, safe to keep and share between threads."""

    enabled: bool
    allowed_group_ids: frozenset[int]
    timeout_seconds: int | None
    retention_days: int | None
    default_parameters: dict[str, Any]


def _read_configs() -> dict[str, ReportTypeSettings]:
    return {
        config.key: ReportTypeSettings(
            enabled=config.enabled,
            allowed_group_ids=frozenset(group.pk for group in config.allowed_groups.all()),
            timeout_seconds=config.timeout_seconds,
            retention_days=config.retention_days,
            default_parameters=config.default_parameters,
        )
        for config in ReportTypeConfig.objects.prefetch_related("allowed_groups")
    }


def _resolve(
    report_type: ReportType, config: ReportTypeSettings | None, user: AbstractBaseUser, view: access_cache.AccessView
) -> AvailableReportType:
    if config is not None and not config.enabled:
        raise ReportTypeUnknown(f"The report type {report_type.key!r} is disabled.")
    if not report_type.is_permitted(user):
        raise ReportTypeNotPermitted(f"You may not request {report_type.key!r} reports.")
    if (
        config is not None
        and config.allowed_group_ids
        and not user.is_superuser
        and not config.allowed_group_ids.intersection(access_cache.group_ids(user, view))
    ):
        raise ReportTypeNotPermitted(f"{report_type.key!r} reports are limited to certain groups.")
    return AvailableReportType(
        report_type=report_type,
        timeout=(config.timeout_seconds if config and config.timeout_seconds else report_type.timeout),
        retention_days=(config.retention_days if config and config.retention_days else settings.REPORT_RETENTION_DAYS),
        default_parameters=copy.deepcopy(config.default_parameters) if config else {},
    )


def _access(user: AbstractBaseUser) -> tuple[dict[str, ReportTypeSettings], access_cache.AccessView]:
    view = access_cache.current()
    access_cache.prime_permissions(user, view)
    return view.get("report_type_configs", _read_configs), view


def report_type_for_user(*, user: AbstractBaseUser, key: str) -> AvailableReportType:
    """The type as this user may request it; raises ReportTypeUnknown or ReportTypeNotPermitted."""
    report_type = report_types.get(key) if isinstance(key, str) else None
    if report_type is None:
        raise ReportTypeUnknown(f"There is no report type {key!r}.")
    configs, view = _access(user)
    return _resolve(report_type, configs.get(key), user, view)


def report_types_for_user(*, user: AbstractBaseUser) -> list[AvailableReportType]:
    configs, view = _access(user)
    available = []
    for report_type in report_types.all():
        try:
            available.append(_resolve(report_type, configs.get(report_type.key), user, view))
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


# Candidates looked at for a reuse: the newest of the type are the ones that can match.
REUSE_CANDIDATES = 50


def report_find_reusable(
    *, user: AbstractBaseUser, report_type: str, parameters: dict[str, Any], within: int
) -> Report | None:
    """The user's newest report of the type with exactly these (effective) parameters that is queued or running, or
    succeeded less than `within` seconds ago (so its file is still kept). Parameters are compared as values, not as
    stored text: JSON key order differs between databases."""
    recent = timezone.now() - timedelta(seconds=within)
    candidates = (
        Report.objects.filter(requested_by=user, report_type=report_type)
        .filter(
            Q(status__in=[ReportStatus.QUEUED, ReportStatus.RUNNING])
            | Q(status=ReportStatus.SUCCEEDED, finished_at__gte=recent)
        )
        .order_by("-created_at", "-id")[:REUSE_CANDIDATES]
    )
    return next((report for report in candidates if report.parameters == parameters), None)


def report_get(*, user: AbstractBaseUser, report_id: str) -> Report | None:
    if not looks_like_id(report_id):
        return None
    return Report.objects.filter(requested_by=user, id=report_id).first()


def report_for_download_link(*, token: str, report_id: str) -> Report | None:
    """The report a signed download link opens (reports/links.py): only its owner's report of that id. Raises
    DownloadLinkRefused for a link that is not valid for it."""
    owner = download_owner(token, report_id)
    return Report.objects.filter(id=report_id, requested_by_id=owner).first()


@dataclass(frozen=True)
class ReportTypeLimits:
    timeout: int
    retention_days: int


def report_file_readable(*, user: AbstractBaseUser, report: Report, may_view_reports: bool) -> bool:
    """Who may read a report's file in the admin: its requester; others who may view reports (`may_view_reports`,
    the admin's own rule) only where the report's type lets them, e.g. a model export needs that model's view
    permission too (reports/registry.py)."""
    if report.requested_by_id == user.pk:
        return True
    if not may_view_reports:
        return False
    report_type = report_types.get(report.report_type)
    if report_type is None:  # a type no longer installed: nobody can say what its file shows
        return user.is_superuser
    return report_type.may_read_result(user, report.parameters or {})


def report_type_limits(key: str) -> ReportTypeLimits:
    """Timeout and retention for a type, the admin's values first; for jobs that act on behalf of no one user."""
    report_type = report_types.get(key)
    config = ReportTypeConfig.objects.filter(key=key).first()
    return ReportTypeLimits(
        timeout=(config and config.timeout_seconds) or (report_type.timeout if report_type else 300),
        retention_days=(config and config.retention_days) or settings.REPORT_RETENTION_DAYS,
    )
