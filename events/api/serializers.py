"""Input and output shapes of the events API (SPEC §14)."""

from typing import Any

from rest_framework import serializers

from common.ids import looks_like_id
from events.models import Event
from events.selectors import event_deliveries
from events.types import event_types, is_event_type

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
LIMIT_HELP = (
    f"Events per page, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}); outside that range the answer is 400, not a "
    "clamped page."
)
AFTER_HELP = (
    "An event id: the events after it, oldest first. 410 when it cannot be served (not yours, unknown, or past "
    "retention): read the state again."
)


def _after_field() -> serializers.CharField:
    return serializers.CharField(max_length=64, required=False, help_text=AFTER_HELP)


def _limit_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, help_text=LIMIT_HELP)


class EventListFilterSerializer(serializers.Serializer):
    type = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        help_text="Only events of these types (repeat the parameter for several).",
    )
    report = serializers.CharField(max_length=64, required=False, help_text="Only the events of this report.")
    after = _after_field()
    limit = _limit_field()

    def validate_type(self, values: list[str]) -> list[str]:
        unknown = sorted({value for value in values if not is_event_type(value)})
        if unknown:
            raise serializers.ValidationError(
                f"Unknown event type: {', '.join(unknown)}. Known: {', '.join(event_types())}."
            )
        return values

    def validate_report(self, value: str) -> str:
        if not looks_like_id(value):
            raise serializers.ValidationError("Not a report id.")
        return value


class ReportEventsFilterSerializer(serializers.Serializer):
    after = _after_field()
    limit = _limit_field()


class EventOutputSerializer(serializers.Serializer):
    """An event: the §5 envelope exactly as every channel carries it."""

    id = serializers.CharField()
    type = serializers.CharField()
    sequence = serializers.IntegerField(help_text="Strictly increasing in commit order within your events.")
    timestamp = serializers.DateTimeField()
    data = serializers.JSONField(help_text='{"report": <the report as it was>} for report events.')

    def to_representation(self, event: Event) -> dict[str, Any]:
        return event.envelope


class EventDeliveryOutputSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=["websocket", "sse", "graphql", "webhook", "callback", "email", "sms"])
    target = serializers.CharField(
        help_text='An endpoint id, or a masked URL, address or number; "live" for live channels.'
    )
    status = serializers.ChoiceField(choices=["pending", "delivered", "failed", "skipped"])
    attempts = serializers.IntegerField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)


class EventWithDeliveriesOutputSerializer(EventOutputSerializer):
    deliveries = EventDeliveryOutputSerializer(many=True)

    def to_representation(self, event: Event) -> dict[str, Any]:
        deliveries = EventDeliveryOutputSerializer(
            [entry.as_dict() for entry in event_deliveries(event)], many=True
        ).data
        return {**event.envelope, "deliveries": deliveries}


class EventPageOutputSerializer(serializers.Serializer):
    """A page of events read with `after`, oldest first."""

    next = serializers.URLField(allow_null=True, help_text="The next page, while this one is full; else null.")
    results = EventOutputSerializer(many=True)


class EventWithDeliveriesPageOutputSerializer(serializers.Serializer):
    """A page of a report's events, oldest first, each with its deliveries."""

    next = serializers.URLField(allow_null=True, help_text="The next page, while this one is full; else null.")
    results = EventWithDeliveriesOutputSerializer(many=True)


class EventTypeOutputSerializer(serializers.Serializer):
    type = serializers.CharField(source="name")
    description = serializers.CharField()
    schema = serializers.JSONField(help_text="The JSON Schema (2020-12) of the whole event envelope of this type.")
    example = serializers.JSONField(help_text="An event of this type; it validates against `schema`.")
