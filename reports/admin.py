from django.contrib import admin

from reports.models import Report, ReportTypeConfig


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["id", "report_type", "requested_by", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "report_type"]
    search_fields = ["id", "requested_by__username", "report_type"]
    date_hierarchy = "created_at"
    list_select_related = ["requested_by"]
    readonly_fields = [field.name for field in Report._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ReportTypeConfig)
class ReportTypeConfigAdmin(admin.ModelAdmin):
    list_display = ["key", "enabled", "timeout_seconds", "retention_days"]
    list_filter = ["enabled"]
    filter_horizontal = ["allowed_groups"]
