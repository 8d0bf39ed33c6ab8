"""The forms of the webhooks pages. They only turn what the browser sends into values; the rules (a public URL,
known event types, one recovery at a time) are the services', whose messages they show."""

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from events.models import DeliveryStatus
from events.types import event_types
from notifications.models import MAX_RATE_LIMIT
from reports.events import REPORT_EVENT_DESCRIPTIONS, REPORT_EVENT_TYPES, TERMINAL_EVENT_TYPES


class EndpointForm(forms.Form):
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="Where events are POSTed, signed: http or https, on a public address.",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/reports"}),
    )
    description = forms.CharField(label="Description", max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label="Events",
        required=False,
        choices=[(name, f"{name}: {REPORT_EVENT_DESCRIPTIONS[name]}") for name in REPORT_EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        help_text=f"None ticked: the events that end a report ({', '.join(TERMINAL_EVENT_TYPES)}).",
    )
    rate_limit = forms.IntegerField(
        label="Rate limit (deliveries a second)",
        required=False,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RATE_LIMIT)],
        help_text="At most this many deliveries a second reach it; the rest wait their turn. Empty: no limit.",
    )

    @classmethod
    def initial_of(cls, endpoint) -> dict:
        return {name: getattr(endpoint, name) for name in ("url", "description", "event_types", "rate_limit")}

    def add_service_error(self, field: str, error: Exception) -> None:
        self.add_error(field if field in self.fields else None, str(error))


class RecoverForm(forms.Form):
    since = forms.DateTimeField(
        label="Since",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Deliveries of the events since then (your timezone) are sent again, with their own event ids.",
    )
    status = forms.ChoiceField(
        label="Which",
        choices=[("failed", "Only the failed ones"), ("all", "All of them, delivered or failed")],
        initial="failed",
    )


class DeliveryFilterForm(forms.Form):
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *DeliveryStatus.choices])
    event_type = forms.ChoiceField(label="Event", required=False, choices=lambda: [("", "Any event"), *_event_types()])


def _event_types() -> list[tuple[str, str]]:
    return [(name, name) for name in event_types()]
