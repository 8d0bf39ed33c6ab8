"""Schedules in the admin (SPEC §18): list, edit (checked by the same service as the API), pause, run now, history."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from reports.parameters import ParameterError
from schedules import services
from schedules.forms import add_schedule_errors
from schedules.models import Schedule, ScheduleRun


class ScheduleRunInline(admin.TabularInline):
    model = ScheduleRun
    extra = 0
    can_delete = False
    ordering = ["-due_at"]
    fields = ["due_at", "trigger", "started_at", "report", "error"]
    readonly_fields = fields
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScheduleRun]:
        return super().get_queryset(request).select_related("report")


class ScheduleAdminForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ["owner", "name", "report_type", "parameters", "cron", "timezone", "recipients", "enabled"]

    def clean(self) -> dict:
        """Checked by the service the API uses, with the owner's permissions; its errors under their fields."""
        cleaned = super().clean()
        owner = cleaned.get("owner")
        if owner is None or self.errors:
            return cleaned
        data = {name: cleaned.get(name) for name in services.EDITABLE}
        try:
            services.schedule_validate(owner=owner, data=data, schedule=self.instance if self.instance.pk else None)
        except ParameterError as error:
            add_schedule_errors(self, error)
        return cleaned


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleAdminForm
    list_display = [
        "name",
        "owner",
        "report_type",
        "cron",
        "timezone",
        "enabled",
        "next_run_at",
        "consecutive_failures",
    ]
    list_filter = ["enabled", "report_type", "timezone"]
    search_fields = ["name", "id", "owner__username", "owner__email"]
    list_select_related = ["owner"]
    readonly_fields = ["id", "next_run_at", "consecutive_failures", "created_at", "updated_at"]
    fields = ["id", "owner", "name", "report_type", "parameters", "cron", "timezone", "recipients", "enabled",
              "next_run_at", "consecutive_failures", "created_at", "updated_at"]  # fmt: skip
    raw_id_fields = ["owner"]
    inlines = [ScheduleRunInline]
    actions = ["run_now", "pause", "resume"]

    def save_model(self, request: HttpRequest, obj: Schedule, form, change: bool) -> None:
        """Through the service, as the API saves (the form checked the same rules first)."""
        data = {name: form.cleaned_data[name] for name in services.EDITABLE if name in form.cleaned_data}
        existing = Schedule.objects.filter(pk=obj.pk).first() if change else None
        saved = services.schedule_save(owner=form.cleaned_data["owner"], data=data, schedule=existing)
        obj.pk, obj.next_run_at = saved.pk, saved.next_run_at

    @admin.action(description="Run the selected schedules now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        runs = [services.schedule_run_now(schedule=schedule) for schedule in queryset]
        requested = sum(run.report_id is not None for run in runs)
        self.message_user(request, f"{requested} of {len(runs)} runs requested their report.", messages.SUCCESS)

    @admin.action(description="Pause the selected schedules")
    def pause(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            services.schedule_save(owner=schedule.owner, data={"enabled": False}, schedule=schedule)
        self.message_user(request, f"{queryset.count()} paused.", messages.SUCCESS)

    @admin.action(description="Resume the selected schedules")
    def resume(self, request: HttpRequest, queryset: QuerySet[Schedule]) -> None:
        for schedule in queryset:
            services.schedule_save(owner=schedule.owner, data={"enabled": True}, schedule=schedule)
        self.message_user(request, f"{queryset.count()} resumed.", messages.SUCCESS)
