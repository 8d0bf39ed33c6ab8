"""The staff UI's schedule form: plain fields the service checks as the API's are checked."""

import json
from typing import Any

from django import forms

from reports.parameters import ParameterError
from reports.selectors import AvailableReportType


def add_schedule_errors(form: forms.BaseForm, error: ParameterError) -> None:
    """The service's field errors ("parameters.x", "cron", ...) under the form's fields, for the UI and the admin."""
    for path, messages in error.field_errors().items():
        field = path.split(".", 1)[0]
        for message in messages:
            form.add_error(field if field in form.fields else None, f"{path}: {message}" if "." in path else message)


class ScheduleForm(forms.Form):
    name = forms.CharField(max_length=200)
    report_type = forms.ChoiceField()
    parameters = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        required=False,
        initial="{}",
        help_text='JSON, e.g. {"period": "previous_week"} for a date-range type.',
    )
    cron = forms.CharField(
        max_length=100,
        initial="0 7 * * 1",
        help_text="minute hour day-of-month month day-of-week; 0 7 * * 1 is Mondays at 07:00.",
        widget=forms.TextInput(attrs={"class": "mono", "autocomplete": "off"}),
    )
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="IANA name, e.g. Europe/Berlin.")
    recipients = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="Email addresses, one a line."
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, types: list[AvailableReportType], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["report_type"].choices = [(item.key, item.report_type.title) for item in types]

    def clean_parameters(self) -> dict[str, Any]:
        text = self.cleaned_data["parameters"].strip() or "{}"
        try:
            value = json.loads(text)
        except ValueError:
            raise forms.ValidationError("Not JSON.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("A JSON object, like {}.")
        return value

    def clean_recipients(self) -> list[str]:
        return [
            line.strip() for line in self.cleaned_data["recipients"].replace(",", "\n").splitlines() if line.strip()
        ]

    @staticmethod
    def initial_of(schedule) -> dict[str, Any]:
        return {
            "name": schedule.name,
            "report_type": schedule.report_type,
            "parameters": json.dumps(schedule.parameters),
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "recipients": "\n".join(schedule.recipients),
            "enabled": schedule.enabled,
        }
