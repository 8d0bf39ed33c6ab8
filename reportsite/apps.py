from django.apps import AppConfig


class ReportsiteConfig(AppConfig):
    """The project itself, as an app only to register its system checks."""

    name = "reportsite"

    def ready(self) -> None:
        from reportsite import checks  # noqa: F401  (registers them)
