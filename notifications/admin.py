"""Webhooks in the admin: endpoints with their actions, deliveries and attempts as a read-only log. Email and SMS:
each user's preferences, and the message log with a resend action."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote  # as the admin's own links: it unquotes "_40" in an id to "@"
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from notifications import messaging, preferences, services
from notifications.models import (
    CallbackSecret,
    DeliveryStatus,
    NotificationMessage,
    NotificationPreferences,
    NotificationStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.signing import new_secret

STATUS_COLOURS = {
    DeliveryStatus.SUCCEEDED: "#2e7d32",
    DeliveryStatus.FAILED: "#c62828",
    DeliveryStatus.PENDING: "#1565c0",
    DeliveryStatus.SKIPPED: "#757575",
    NotificationStatus.SENT: "#2e7d32",
}


URL_FIELD = {models.URLField: {"assume_scheme": "https"}}


class ReadOnlyAdmin(admin.ModelAdmin):
    """A log: viewable, never edited by hand."""

    formfield_overrides = URL_FIELD

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELD
    list_display = ["url", "owner", "enabled", "consecutive_failures", "disabled_reason", "created_at"]
    list_filter = ["enabled", "created_at"]
    search_fields = ["url", "description", "owner__username", "id"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    # The secrets are never shown; rotate them with the action.
    exclude = ["secret", "previous_secret"]
    readonly_fields = ["id", "consecutive_failures", "disabled_reason", "disabled_at", "previous_secret_expires_at"]
    actions = ["enable_endpoints", "disable_endpoints", "send_test", "rotate_secret"]

    def save_model(self, request, obj, form, change) -> None:
        if not change:
            obj.secret = new_secret()
        super().save_model(request, obj, form, change)

    @admin.action(description="Enable selected endpoints (and send what they missed)", permissions=["change"])
    def enable_endpoints(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            services.endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"Enabled {queryset.count()} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable_endpoints(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            services.endpoint_disable(endpoint=endpoint, reason=f"Disabled by {request.user.get_username()}.")
        self.message_user(request, f"Disabled {queryset.count()} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Send a test ping to selected endpoints", permissions=["change"])
    def send_test(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            delivery = services.endpoint_send_test(endpoint=endpoint)
            level = messages.SUCCESS if delivery.status == DeliveryStatus.SUCCEEDED else messages.WARNING
            outcome = delivery.last_status_code or delivery.last_error
            self.message_user(request, f"{endpoint.url}: {delivery.status} ({outcome}).", level)

    @admin.action(description="Rotate the signing secret of selected endpoints", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet) -> None:
        for endpoint in queryset:
            services.endpoint_rotate_secret(endpoint=endpoint)
        self.message_user(
            request,
            f"Rotated {queryset.count()} secret(s); the old ones keep signing for 24 h. "
            "Owners read the new secret through the API.",
            messages.SUCCESS,
        )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "attempted_at", "status_code", "latency_ms", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class AttemptOutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("success", "2xx"), ("http_error", "other HTTP status"), ("no_answer", "no answer (timeout, refused)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "success":
            return queryset.filter(status_code__gte=200, status_code__lt=300)
        if self.value() == "http_error":
            return queryset.filter(status_code__isnull=False).exclude(status_code__gte=200, status_code__lt=300)
        if self.value() == "no_answer":
            return queryset.filter(status_code__isnull=True)
        return queryset


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    """Every try of every delivery, across endpoints: where to look when an endpoint starts failing."""

    list_display = ["attempted_at", "delivery_link", "number", "status_code", "latency_ms", "error"]
    list_filter = [AttemptOutcomeFilter, "attempted_at"]
    search_fields = ["=delivery__id", "=delivery__event_id", "delivery__url", "error"]
    date_hierarchy = "attempted_at"
    list_select_related = ["delivery"]

    @admin.display(description="delivery", ordering="delivery")
    def delivery_link(self, attempt: WebhookAttempt) -> str:
        url = reverse("admin:notifications_webhookdelivery_change", args=[quote(attempt.delivery_id)])
        return format_html('<a href="{}">{}</a> {}', url, attempt.delivery_id, attempt.delivery.url)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event_type", "url", "owner", "status_badge", "attempt_count", "last_status_code", "created_at"]
    list_filter = ["status", "event_type", "created_at"]
    search_fields = ["event_id", "url", "owner__username", "id"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    exclude = ["payload"]
    readonly_fields = ["payload_pretty"]
    inlines = [WebhookAttemptInline]
    actions = ["redeliver"]

    @admin.display(description="status", ordering="status")
    def status_badge(self, delivery: WebhookDelivery) -> str:
        colour = STATUS_COLOURS.get(delivery.status, "#555")
        return format_html('<b style="color:{}">{}</b>', colour, delivery.get_status_display())

    @admin.display(description="payload")
    def payload_pretty(self, delivery: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(delivery.payload, indent=2))

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_webhookdelivery")

    @admin.action(description="Redeliver selected deliveries (same event id)", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet) -> None:
        for delivery in queryset:
            services.delivery_redeliver(delivery=delivery)
        self.message_user(request, f"Queued {queryset.count()} delivery(ies) again.", messages.SUCCESS)


@admin.register(CallbackSecret)
class CallbackSecretAdmin(ReadOnlyAdmin):
    list_display = ["user", "created_at", "rotated_at"]
    exclude = ["secret", "previous_secret"]
    search_fields = ["user__username"]


class NotificationPreferencesForm(forms.ModelForm):
    class Meta:
        model = NotificationPreferences
        fields = ["user", "email_on_success", "email_on_failure", "sms_on_success", "sms_on_failure", "phone_number"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if "phone_number" not in self.errors:
            # The same rule as the API and the UI, with its message next to the field.
            candidate = NotificationPreferences(**{name: cleaned.get(name) for name in preferences.PREFERENCE_FIELDS})
            for field, problems in preferences.preferences_problems(candidate).items():
                for problem in problems:
                    self.add_error(field, problem)
        return cleaned


@admin.register(NotificationPreferences)
class NotificationPreferencesAdmin(admin.ModelAdmin):
    form = NotificationPreferencesForm
    list_display = [
        "user",
        "email_on_success",
        "email_on_failure",
        "sms_on_success",
        "sms_on_failure",
        "phone_number",
        "updated_at",
    ]
    list_filter = ["email_on_success", "email_on_failure", "sms_on_success", "sms_on_failure"]
    search_fields = ["user__username", "user__email", "phone_number"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]


@admin.register(NotificationMessage)
class NotificationMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "channel",
        "recipient",
        "event_type",
        "report_link",
        "user",
        "status_badge",
        "attempts",
        "last_error",
        "sent_at",
    ]
    list_filter = ["channel", "status", "event_type", "created_at"]
    search_fields = ["recipient", "=report__id", "=event_id", "=id", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    exclude = ["payload", "claimed_until"]
    readonly_fields = ["report_link", "payload_pretty"]
    actions = ["resend"]

    @admin.display(description="report", ordering="report")
    def report_link(self, message: NotificationMessage) -> str:
        url = reverse("admin:reports_report_change", args=[quote(message.report_id)])
        return format_html('<a href="{}">{}</a>', url, message.report_id)

    @admin.display(description="status", ordering="status")
    def status_badge(self, message: NotificationMessage) -> str:
        colour = STATUS_COLOURS.get(message.status, "#555")
        return format_html('<b style="color:{}">{}</b>', colour, message.get_status_display())

    @admin.display(description="event")
    def payload_pretty(self, message: NotificationMessage) -> str:
        return format_html("<pre>{}</pre>", json.dumps(message.payload, indent=2))

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.resend_notificationmessage")

    @admin.action(description="Resend selected messages (now, with fresh retries)", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet) -> None:
        queued, busy = 0, []
        for message in queryset:
            try:
                messaging.notification_resend(message=message)
            except messaging.MessageInFlight:
                busy.append(message.id)
            else:
                queued += 1
        self.message_user(request, f"Queued {queued} message(s) to be sent again.", messages.SUCCESS)
        if busy:
            self.message_user(request, f"Being sent right now, not queued again: {', '.join(busy)}.", messages.WARNING)
