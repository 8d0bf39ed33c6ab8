from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Webhooks, email, SMS, preferences and their delivery log."""

    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from common import access_cache
        from notifications.messaging import notifications_fan_out
        from notifications.models import WebhookEndpoint
        from notifications.services import webhooks_fan_out
        from reports.events import register_sink

        register_sink(webhooks_fan_out)
        register_sink(notifications_fan_out)
        access_cache.watch(WebhookEndpoint)  # the fan-out reads endpoints through the cache
