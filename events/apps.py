from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The event log (a transactional outbox), its fan-out to every channel, and the one delivery engine."""

    name = "events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from events.api import problems

        problems.register()
