"""The JSON Schema and an example of the `data` of the events the notifications app writes (events/types.py)."""

from typing import Any

_ENDPOINT_ID = "we_01jbq3yx6d5c4b3a2z1y0x9w8v"
_ENDPOINT_URL = "https://hooks.example.com/reports"

PING_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["endpoint"],
    "properties": {
        "endpoint": {
            "type": "object",
            "required": ["id", "url"],
            "properties": {"id": {"type": "string", "pattern": "^we_"}, "url": {"type": "string", "format": "uri"}},
        }
    },
}
PING_DATA_EXAMPLE = {"endpoint": {"id": _ENDPOINT_ID, "url": _ENDPOINT_URL}}

ENDPOINT_DISABLED_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["endpoint"],
    "properties": {
        "endpoint": {
            "type": "object",
            "required": ["id", "url", "description", "disabled_reason", "consecutive_failures"],
            "properties": {
                "id": {"type": "string", "pattern": "^we_"},
                "url": {"type": "string", "format": "uri"},
                "description": {"type": "string"},
                "disabled_reason": {"type": "string"},
                "consecutive_failures": {"type": "integer", "minimum": 0},
            },
        }
    },
}
ENDPOINT_DISABLED_DATA_EXAMPLE = {
    "endpoint": {
        "id": _ENDPOINT_ID,
        "url": _ENDPOINT_URL,
        "description": "Order system",
        "disabled_reason": "50 deliveries in a row failed (last: HTTP 502).",
        "consecutive_failures": 50,
    }
}
