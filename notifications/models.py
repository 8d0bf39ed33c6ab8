"""Webhook endpoints and per-user callback secrets; each user's email and SMS preferences. What is sent to them is
the event log's deliveries (events/models.py)."""

from django.conf import settings
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField

from common.ids import new_id


def new_endpoint_id() -> str:
    return new_id("we")


def new_delivery_id() -> str:
    """Ids of the webhook deliveries kept before the event log (referred to by the migrations that made them)."""
    return new_id("wd")


class WebhookEndpoint(models.Model):
    id = models.CharField(primary_key=True, max_length=32, default=new_endpoint_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Empty: the terminal report events (SPEC §7.1).
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    secret = models.CharField(max_length=100)
    # After a rotation the old secret keeps signing beside the new one until this time.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "enabled"], name="endpoint_owner_enabled")]

    def __str__(self) -> str:
        return f"{self.url} ({self.id})"


class CallbackSecret(models.Model):
    """The secret that signs a user's per-report `callback_url` deliveries (SPEC §7.2)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="callback_secret")
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"callback secret of {self.user}"


# --- Email and SMS (SPEC §8) ---------------------------------------------------------------------------------------


def new_message_id() -> str:
    """Ids of the email and SMS log kept before the event log (referred to by the migrations that made them)."""
    return new_id("msg")


class NotificationPreferences(models.Model):
    """What one user wants to hear about a finished report, and where. Made on first use; until then the defaults
    (email on, SMS off) apply."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    email_on_success = models.BooleanField(default=True, help_text="Email when a report is ready.")
    email_on_failure = models.BooleanField(default=True, help_text="Email when a report failed.")
    sms_on_success = models.BooleanField(default=False, help_text="SMS when a report is ready.")
    sms_on_failure = models.BooleanField(default=False, help_text="SMS when a report failed.")
    phone_number = PhoneNumberField(blank=True, help_text="Where SMS go, in international format (E.164).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "notification preferences"
        verbose_name_plural = "notification preferences"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sms_on_success=False, sms_on_failure=False) | ~models.Q(phone_number=""),
                name="sms_needs_phone_number",
                violation_error_message="A phone number is needed to receive SMS.",
            )
        ]

    def __str__(self) -> str:
        return f"notification preferences of {self.user}"
