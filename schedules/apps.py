from django.apps import AppConfig


class SchedulesConfig(AppConfig):
    """Scheduled reports (SPEC §18): a cron in the owner's timezone, a run per due time, the PDF to recipients."""

    name = "schedules"
    verbose_name = "Scheduled reports"

    def ready(self) -> None:
        from common.api.problems import register_problem
        from events import channels
        from events.types import register_event_type
        from reports.lifecycle import report_finished
        from schedules import event_schemas
        from schedules.channels import ScheduleEmailChannel
        from schedules.services import (
            SCHEDULE_DISABLED_EVENT,
            SCHEDULE_RUN_FAILED_EVENT,
            ScheduleInvalid,
            schedule_run_ended,
        )

        channels.register(ScheduleEmailChannel())
        register_problem(
            ScheduleInvalid,
            400,
            "validation-error",
            "Invalid schedule",
            field_errors=lambda error: error.field_errors(),
            detail="Some fields are not valid.",
        )
        register_event_type(
            SCHEDULE_DISABLED_EVENT,
            "A schedule was disabled after failing runs in a row; its owner is emailed.",
            data_schema=event_schemas.SCHEDULE_DISABLED_DATA_SCHEMA,
            data_example=event_schemas.SCHEDULE_DISABLED_DATA_EXAMPLE,
        )
        register_event_type(
            SCHEDULE_RUN_FAILED_EVENT,
            "A schedule's run could not request its report; its owner is emailed.",
            data_schema=event_schemas.SCHEDULE_RUN_FAILED_DATA_SCHEMA,
            data_example=event_schemas.SCHEDULE_RUN_FAILED_DATA_EXAMPLE,
        )

        def run_ended(sender, report, **kwargs) -> None:
            schedule_run_ended(report.schedule_id)

        report_finished.connect(run_ended, weak=False, dispatch_uid="schedules.run_ended")
