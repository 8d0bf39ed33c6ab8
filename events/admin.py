"""The event log in the admin: events with where each went, and the delivery log of every channel (webhooks,
callbacks, email, SMS) with its attempts and a redeliver action. All read-only: they are records."""

import json

from django.contrib import admin, messages
from django.contrib.admin.utils import quote  # as the admin's own links: it unquotes "_40" in an id to "@"
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from events.engine import deliveries_redeliver
from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, EventStream

STATUS_COLOURS = {
    DeliveryStatus.SUCCEEDED: "#2e7d32",
    DeliveryStatus.FAILED: "#c62828",
    DeliveryStatus.PENDING: "#1565c0",
    DeliveryStatus.SKIPPED: "#757575",
}


class ReadOnlyAdmin(admin.ModelAdmin):
    """A log: viewable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _link(model: str, object_id: str, text: str | None = None) -> str:
    url = reverse(f"admin:{model}_change", args=[quote(object_id)])
    return format_html('<a href="{}">{}</a>', url, text or object_id)


def _pretty(text: str) -> str:
    return format_html("<pre>{}</pre>", json.dumps(json.loads(text), indent=2, ensure_ascii=False))


class ReadOnlyInline(admin.TabularInline):
    """Rows of a log shown under their parent: never added, changed or deleted by hand."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = ["delivery_link", "channel", "target", "status", "attempt_count", "last_attempt_at", "last_error"]
    readonly_fields = fields
    ordering = ["channel", "target"]

    @admin.display(description="delivery")
    def delivery_link(self, delivery: Delivery) -> str:
        return _link("events_delivery", delivery.id)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "type", "user", "sequence", "report_link", "fanned_out_at"]
    list_filter = ["type", "created_at"]
    search_fields = ["=id", "=report__id", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    exclude = ["envelope_json"]
    readonly_fields = ["envelope_pretty"]
    inlines = [DeliveryInline]

    @admin.display(description="report", ordering="report")
    def report_link(self, event: Event) -> str:
        return _link("reports_report", event.report_id) if event.report_id else "—"

    @admin.display(description="envelope")
    def envelope_pretty(self, event: Event) -> str:
        return _pretty(event.envelope_json)


class DeliveryAttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ["number", "attempted_at", "succeeded", "status_code", "latency_ms", "error", "response_excerpt"]
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "channel",
        "target",
        "event_type",
        "user",
        "status_badge",
        "attempt_count",
        "last_status_code",
        "last_error",
    ]
    list_filter = ["channel", "status", "event__type", "created_at"]
    search_fields = ["=id", "=event__id", "target", "event__user__username", "=event__report__id"]
    list_select_related = ["event__user"]
    date_hierarchy = "created_at"
    exclude = ["event", "claimed_by"]
    readonly_fields = ["event_link", "payload_pretty"]
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]

    @admin.display(description="event", ordering="event__type")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description="user", ordering="event__user")
    def user(self, delivery: Delivery) -> str:
        return str(delivery.event.user)

    @admin.display(description="status", ordering="status")
    def status_badge(self, delivery: Delivery) -> str:
        colour = STATUS_COLOURS.get(delivery.status, "#555")
        return format_html('<b style="color:{}">{}</b>', colour, delivery.get_status_display())

    @admin.display(description="event")
    def event_link(self, delivery: Delivery) -> str:
        return _link("events_event", delivery.event_id, f"{delivery.event.type} {delivery.event_id}")

    @admin.display(description="payload")
    def payload_pretty(self, delivery: Delivery) -> str:
        return _pretty(delivery.event.envelope_json)

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("events.redeliver_delivery")

    @admin.action(description="Send selected deliveries again (same event id, new retries)", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet) -> None:
        queued, busy = deliveries_redeliver(deliveries=queryset)
        self.message_user(request, f"Queued {queued} delivery(ies) to be sent again.", messages.SUCCESS)
        if busy:
            self.message_user(request, f"Being sent right now, not queued again: {', '.join(busy)}.", messages.WARNING)


class AttemptOutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("success", "succeeded"), ("http_error", "other HTTP status"), ("no_answer", "no answer, or an error")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "success":
            return queryset.filter(succeeded=True)
        if self.value() == "http_error":
            return queryset.filter(succeeded=False, status_code__isnull=False)
        if self.value() == "no_answer":
            return queryset.filter(succeeded=False, status_code__isnull=True)
        return queryset


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    """Every try of every delivery, across channels: where to look when a target starts failing."""

    list_display = ["attempted_at", "delivery_link", "number", "succeeded", "status_code", "latency_ms", "error"]
    list_filter = [AttemptOutcomeFilter, "delivery__channel", "attempted_at"]
    search_fields = ["=delivery__id", "=delivery__event__id", "delivery__target", "error"]
    date_hierarchy = "attempted_at"
    list_select_related = ["delivery"]

    @admin.display(description="delivery", ordering="delivery")
    def delivery_link(self, attempt: DeliveryAttempt) -> str:
        return format_html(
            "{} {} {}",
            _link("events_delivery", attempt.delivery_id),
            attempt.delivery.channel,
            attempt.delivery.target,
        )


@admin.register(EventStream)
class EventStreamAdmin(ReadOnlyAdmin):
    """Each user's stream: the last sequence number given, to compare with what a client says it saw."""

    list_display = ["user", "last_sequence"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
