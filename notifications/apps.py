from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Webhooks, email, SMS, preferences and their delivery log."""

    name = "notifications"
    default_auto_field = "django.db.models.BigAutoField"
