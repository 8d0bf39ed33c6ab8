from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Webhooks (endpoints, callback URLs) and email and SMS (preferences): the delivery channels of the event log."""

    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from common import access_cache
        from common.api.problems import register_problem
        from events import channels
        from events.types import register_event_type
        from notifications import event_schemas
        from notifications.messages.channels import EmailChannel, SmsChannel, email_unavailable, sms_unavailable
        from notifications.models import WebhookEndpoint
        from notifications.webhooks import recovery
        from notifications.webhooks.channels import CallbackChannel, EndpointChannel
        from notifications.webhooks.services import (
            ENDPOINT_DISABLED_EVENT,
            EndpointLimitReached,
            EndpointTestRateLimited,
        )
        from reports.notify import register_notify_channel

        for channel in (EndpointChannel(), CallbackChannel(), EmailChannel(), SmsChannel()):
            channels.register(channel)
        register_event_type(
            "ping",
            "A test event sent to one webhook endpoint on request.",
            data_schema=event_schemas.PING_DATA_SCHEMA,
            data_example=event_schemas.PING_DATA_EXAMPLE,
        )
        register_event_type(
            ENDPOINT_DISABLED_EVENT,
            "A webhook endpoint was disabled after failing; its owner is emailed.",
            data_schema=event_schemas.ENDPOINT_DISABLED_DATA_SCHEMA,
            data_example=event_schemas.ENDPOINT_DISABLED_DATA_EXAMPLE,
        )
        register_notify_channel("email", email_unavailable)
        register_notify_channel("sms", sms_unavailable)
        register_problem(EndpointLimitReached, 400, "endpoint-limit-reached", "Too many webhook endpoints")
        register_problem(EndpointTestRateLimited, 429, "rate-limited", "Too many requests")
        register_problem(recovery.RecoveryRunning, 409, "recovery-running", "A recovery is running")
        register_problem(recovery.RecoveryRefused, 409, "endpoint-disabled", "The endpoint is disabled")
        register_problem(
            recovery.RecoveryInvalid,
            400,
            "validation-error",
            "Invalid request",
            field_errors=lambda error: error.field_errors(),
            detail="The request has invalid fields.",
        )
        access_cache.watch(WebhookEndpoint)  # the fan-out reads endpoints through the cache
