"""The JSON Schema and an example of the `data` of the events the schedules app writes (events/types.py)."""

from typing import Any

_SCHEDULE_ID = {"type": "string", "pattern": "^sch_"}

SCHEDULE_DISABLED_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schedule"],
    "properties": {
        "schedule": {
            "type": "object",
            "required": ["id", "name", "failures"],
            "properties": {"id": _SCHEDULE_ID, "name": {"type": "string"}, "failures": {"type": "integer"}},
        }
    },
}
SCHEDULE_DISABLED_DATA_EXAMPLE = {
    "schedule": {"id": "sch_01jbq3yq9t8s7r6p5n4m3k2j1h", "name": "Monthly sales", "failures": 3}
}

SCHEDULE_RUN_FAILED_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["schedule", "error"],
    "properties": {
        "schedule": {
            "type": "object",
            "required": ["id", "name"],
            "properties": {"id": _SCHEDULE_ID, "name": {"type": "string"}},
        },
        "error": {"type": "string"},
    },
}
SCHEDULE_RUN_FAILED_DATA_EXAMPLE = {
    "schedule": {"id": "sch_01jbq3yq9t8s7r6p5n4m3k2j1h", "name": "Monthly sales"},
    "error": "You may not request reports of this type.",
}
