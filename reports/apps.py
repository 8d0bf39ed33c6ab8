from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Report types, report requests, the render job, the API and the UI."""

    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reports.registry import autodiscover

        autodiscover()
