"""The report, its lifecycle, and the admin-editable configuration of each report type."""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from rest_framework.authtoken.models import TokenProxy

from common.ids import new_report_id


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


TERMINAL_STATUSES = frozenset(
    {ReportStatus.SUCCEEDED, ReportStatus.FAILED, ReportStatus.CANCELLED, ReportStatus.EXPIRED}
)
ACTIVE_STATUSES = frozenset({ReportStatus.QUEUED, ReportStatus.RUNNING})


def report_file_path(report: "Report", filename: str) -> str:
    return f"reports/{report.created_at:%Y/%m}/{report.id}.pdf"


class Report(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_report_id, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reports")
    report_type = models.CharField(max_length=64, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    # Receives this report's terminal events, signed with the requester's callback secret (SPEC §7.2).
    callback_url = models.URLField(max_length=2000, blank=True)
    # Overrides the requester's email/SMS preferences for this report: {"email": bool, "sms": bool}, keys optional.
    notify = models.JSONField(default=dict, blank=True)
    # The schedule whose run requested it (SPEC §18), else empty. Its id only: schedules/ sits above reports/. The
    # database default lets a process of the release before (a rolling deploy) insert reports without it.
    schedule_id = models.CharField(max_length=32, blank=True, default="", db_default="")
    status = models.CharField(max_length=16, choices=ReportStatus.choices, default=ReportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # How many times a worker has picked this report up; more than one means a retry after a lost worker.
    attempts = models.PositiveSmallIntegerField(default=0)
    # Refreshed by the worker while it builds the report; one that stops refreshing it has lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    file = models.FileField(upload_to=report_file_path, blank=True, max_length=255)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    file_pages = models.PositiveIntegerField(null=True, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["requested_by", "-created_at"], name="report_owner_recent"),
            models.Index(fields=["status", "created_at"], name="report_status_age"),
        ]

    def __str__(self) -> str:
        return f"{self.report_type} {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class ReportTypeConfig(models.Model):
    """What admins may change about a report type without a deploy. Blank values fall back to the type's own."""

    key = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    allowed_groups = models.ManyToManyField(
        Group, blank=True, help_text="Only members of these groups may request it. Empty: everyone it is open to."
    )
    timeout_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: the type's default.")
    retention_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Days a finished file is kept. Empty: the site default."
    )
    default_parameters = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "report type"
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class IdempotencyState(models.TextChoices):
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"


class IdempotencyKey(models.Model):
    """One `Idempotency-Key` of one user (SPEC §4.2): the request it was first used with and the answer it got.

    In the database rather than the cache so that every web process sees the same keys, and so that the answer is
    stored in the same transaction as the report it describes."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    # sha256 of the request's method, path and canonical JSON body: a reuse with another body is refused (422).
    request_fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=IdempotencyState.choices, default=IdempotencyState.PROCESSING)
    # Which request holds a key that is still processing; only that request may complete it.
    lock_token = models.CharField(max_length=32)
    locked_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The JSON text as first sent (not a JSONField: PostgreSQL's jsonb would reorder the keys of a replay).
    response_body = models.TextField(blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")]

    def __str__(self) -> str:
        return f"{self.key} of {self.user_id} ({self.state})"


class ApiToken(TokenProxy):
    """DRF's token as the admin shows it: named after its user, never by its key (DRF's own is the key itself, which
    would put it in page titles, breadcrumbs and the admin's history)."""

    class Meta:
        proxy = True
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"API token of {self.user}"
