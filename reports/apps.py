from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Report types, report requests and their lifecycle, the render job, the API and the UI."""

    name = "reports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group, Permission

        from common import access_cache
        from events import channels
        from events.types import register_event_type
        from reports import token_admin
        from reports.api import problems
        from reports.event_schemas import REPORT_EVENT_DATA_SCHEMA, report_event_example
        from reports.events import REPORT_EVENT_DESCRIPTIONS, WebSocketChannel
        from reports.models import ReportTypeConfig
        from reports.registry import autodiscover

        autodiscover()
        problems.register()
        channels.register(WebSocketChannel())
        for event_type, description in REPORT_EVENT_DESCRIPTIONS.items():
            register_event_type(
                event_type,
                description,
                data_schema=REPORT_EVENT_DATA_SCHEMA,
                data_example=report_event_example(event_type),
            )
        # Who may request what is cached per process (common/access_cache.py): these tables' changes empty it.
        user_model = get_user_model()
        access_cache.watch(ReportTypeConfig, Group, Permission)
        access_cache.watch(
            user_model.groups.through,
            user_model.user_permissions.through,
            Group.permissions.through,
            ReportTypeConfig.allowed_groups.through,
        )
        # Here rather than in admin.py: DRF's token admin must be registered (by autodiscover) before it is replaced.
        token_admin.register(admin.site)
