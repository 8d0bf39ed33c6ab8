"""Webhooks in the admin: endpoints with their actions, and callback secrets. Email and SMS: each user's
preferences, with their phone confirmation read-only, and the SMS counted against the limits. What was sent to them
is the event log's delivery log (events/admin.py)."""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from events.models import DeliveryStatus
from notifications.messages import preferences
from notifications.models import (
    CallbackSecret,
    NotificationPreferences,
    PhoneConfirmation,
    SmsSend,
    WebhookEndpoint,
    WebhookRecovery,
    WebhookRecoveryItem,
)
from notifications.webhooks import recovery, services
from notifications.webhooks.signing import new_secret

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
    list_display = ["url", "owner", "enabled", "rate_limit", "consecutive_failures", "disabled_reason", "created_at"]
    list_filter = ["enabled", "created_at"]
    search_fields = ["url", "description", "owner__username", "id"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    # The secrets are never shown; rotate them with the action.
    exclude = ["secret", "previous_secret"]
    readonly_fields = ["id", "consecutive_failures", "disabled_reason", "disabled_at", "previous_secret_expires_at"]
    actions = ["enable_endpoints", "disable_endpoints", "send_test", "rotate_secret", "recover_failed_last_day"]

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

    @admin.action(
        description="Recover selected endpoints: send again what failed in the last 24 hours", permissions=["change"]
    )
    def recover_failed_last_day(self, request: HttpRequest, queryset: QuerySet) -> None:
        since = timezone.now() - timedelta(hours=24)
        for endpoint in queryset:
            try:
                started = recovery.endpoint_recover(endpoint=endpoint, since=since, only_failed=True)
            except (recovery.RecoveryRunning, recovery.RecoveryRefused) as error:
                self.message_user(request, f"{endpoint.url}: {error}", messages.WARNING)
            else:
                self.message_user(request, f"{endpoint.url}: recovery {started.id} queued.", messages.SUCCESS)


@admin.register(WebhookRecovery)
class WebhookRecoveryAdmin(ReadOnlyAdmin):
    """Recoveries of endpoints (started from the API or the endpoints' action), with how far each got."""

    list_display = ["id", "endpoint", "since", "only_failed", "status", "total", "created_at"]
    readonly_fields = ["sent_and_failed"]
    list_filter = ["status", "only_failed", "created_at"]
    search_fields = ["id", "endpoint__id", "endpoint__url", "endpoint__owner__username"]
    list_select_related = ["endpoint"]

    @admin.display(description="Sent / failed")
    def sent_and_failed(self, obj: WebhookRecovery) -> str:
        progress = recovery.recovery_refresh(recovery=obj)
        return f"{progress.sent} / {progress.failed}"


@admin.register(WebhookRecoveryItem)
class WebhookRecoveryItemAdmin(ReadOnlyAdmin):
    """Which deliveries each recovery sent again (once each), with where they stand now."""

    list_display = ["recovery", "delivery", "delivery_status"]
    list_filter = ["delivery__status"]
    search_fields = ["recovery__id", "delivery__id", "delivery__event__id"]
    list_select_related = ["delivery"]

    @admin.display(description="Delivery status")
    def delivery_status(self, obj: WebhookRecoveryItem) -> str:
        return obj.delivery.get_status_display()


@admin.register(CallbackSecret)
class CallbackSecretAdmin(ReadOnlyAdmin):
    list_display = ["user", "created_at", "rotated_at"]
    exclude = ["secret", "previous_secret"]
    search_fields = ["user__username"]


class NotificationPreferencesForm(forms.ModelForm):
    """The phone number is not edited here: it is its owner's to set, and to confirm with the code texted to it."""

    class Meta:
        model = NotificationPreferences
        fields = ["user", "email_on_success", "email_on_failure", "sms_on_success", "sms_on_failure"]

    def clean(self) -> dict:
        cleaned = super().clean()
        # The same rule as the API and the UI, with its message next to the field it is about.
        values = {name: cleaned.get(name) for name in preferences.PREFERENCE_FIELDS if name in self.fields}
        candidate = NotificationPreferences(**values, phone_number=self.instance.phone_number)
        for field, problems in preferences.preferences_problems(candidate).items():
            for problem in problems:
                self.add_error(field if field in self.fields else None, problem)
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
        "phone_confirmed",
        "updated_at",
    ]
    list_filter = [
        "email_on_success",
        "email_on_failure",
        "sms_on_success",
        "sms_on_failure",
        ("phone_confirmed_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["user__username", "user__email", "phone_number"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["phone_number", "phone_confirmed_at"]

    @admin.display(boolean=True, description="Phone confirmed", ordering="phone_confirmed_at")
    def phone_confirmed(self, obj: NotificationPreferences) -> bool | None:
        return obj.phone_confirmed if obj.phone_number else None


@admin.register(PhoneConfirmation)
class PhoneConfirmationAdmin(ReadOnlyAdmin):
    """Codes waiting to be entered; the code itself is never shown (only its hash is kept)."""

    list_display = ["user", "phone_number", "created_at", "expires_at", "failed_attempts"]
    list_filter = ["created_at", "expires_at"]
    exclude = ["code_hash"]
    search_fields = ["user__username", "phone_number"]
    list_select_related = ["user"]


@admin.register(SmsSend)
class SmsSendAdmin(ReadOnlyAdmin):
    """The SMS counted against the limits of SPEC §19; confirmation codes are logged here only."""

    list_display = ["created_at", "user", "purpose", "phone_number", "delivery_id", "error"]
    list_filter = ["purpose", "created_at"]
    search_fields = ["user__username", "phone_number", "delivery_id"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
