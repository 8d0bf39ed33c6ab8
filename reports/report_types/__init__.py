"""Built-in report types. Importing this package registers them (autodiscovery imports `<app>.report_types`)."""

from reports.report_types import model_table, report_activity, user_access

__all__ = ["model_table", "report_activity", "user_access"]
