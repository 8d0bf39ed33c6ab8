"""The catalog of event types: each app names the events it writes, with the JSON Schema of their `data` and an
example of it. Filters refuse a type that does not exist (a typo) instead of answering an empty list forever; the
API lists the catalog (GET /api/v1/event-types) and the OpenAPI document's `webhooks` describe each type, so that
integrators can check or generate their receivers."""

import copy
from dataclasses import dataclass, field
from typing import Any

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXAMPLE_EVENT_ID = "evt_01jbq3z4k9w8v7t6s5r4q3p2n1"
EXAMPLE_TIMESTAMP = "2026-01-15T09:30:00.000000Z"


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    # The JSON Schema of the envelope's `data`; an example that matches it.
    data_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    data_example: dict[str, Any] = field(default_factory=dict)

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON Schema (2020-12) of the whole envelope (SPEC §5, §14) of this type."""
        return {
            "$schema": JSON_SCHEMA_DIALECT,
            "title": self.name,
            "description": self.description,
            "type": "object",
            "required": ["id", "type", "sequence", "timestamp", "data"],
            "properties": {
                "id": {"type": "string", "pattern": "^evt_", "description": "Unique per event; the webhook-id."},
                "type": {"const": self.name},
                "sequence": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Strictly increasing in commit order within one user's events.",
                },
                "timestamp": {"type": "string", "format": "date-time"},
                "data": copy.deepcopy(self.data_schema),
            },
        }

    @property
    def example(self) -> dict[str, Any]:
        return {
            "id": EXAMPLE_EVENT_ID,
            "type": self.name,
            "sequence": 42,
            "timestamp": EXAMPLE_TIMESTAMP,
            "data": copy.deepcopy(self.data_example),
        }


_types: dict[str, EventType] = {}


def register_event_type(
    name: str,
    description: str,
    *,
    data_schema: dict[str, Any] | None = None,
    data_example: dict[str, Any] | None = None,
) -> None:
    _types[name] = EventType(name, description, data_schema or {"type": "object"}, data_example or {})


def event_types() -> dict[str, str]:
    """{type: description}, sorted by type."""
    return {name: known.description for name, known in sorted(_types.items())}


def event_type_catalog() -> list[EventType]:
    """Every event type, sorted by name."""
    return [known for _, known in sorted(_types.items())]


def event_type_get(name: str) -> EventType | None:
    return _types.get(name)


def is_event_type(name: str) -> bool:
    return name in _types
