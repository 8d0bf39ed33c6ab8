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
        from notifications.messages.channels import EmailChannel, SmsChannel, email_unavailable, sms_unavailable
        from notifications.models import WebhookEndpoint
        from notifications.webhooks.channels import CallbackChannel, EndpointChannel
        from notifications.webhooks.services import (
            ENDPOINT_DISABLED_EVENT,
            EndpointLimitReached,
            EndpointTestRateLimited,
        )
        from reports.notify import register_notify_channel

        for channel in (EndpointChannel(), CallbackChannel(), EmailChannel(), SmsChannel()):
            channels.register(channel)
        register_event_type("ping", "A test event sent to one webhook endpoint on request.")
        register_event_type(
            ENDPOINT_DISABLED_EVENT, "A webhook endpoint was disabled after failing; its owner is emailed."
        )
        register_notify_channel("email", email_unavailable)
        register_notify_channel("sms", sms_unavailable)
        register_problem(EndpointLimitReached, 400, "endpoint-limit-reached", "Too many webhook endpoints")
        register_problem(EndpointTestRateLimited, 429, "rate-limited", "Too many requests")
        access_cache.watch(WebhookEndpoint)  # the fan-out reads endpoints through the cache
