from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Report types, report requests, the render job, the API and the UI."""

    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from reports import access_cache, token_admin
        from reports.registry import autodiscover

        autodiscover()
        access_cache.connect_signals()
        # Here rather than in admin.py: DRF's token admin must be registered (by autodiscover) before it is replaced.
        token_admin.register(admin.site)
