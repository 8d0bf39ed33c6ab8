"""OpenAPI post-processing (drf-spectacular's POSTPROCESSING_HOOKS): the document's `webhooks` (OpenAPI 3.1), one
per event type of the catalog (events/types.py), each the signed POST that endpoints and callback URLs receive.

Written from the catalog's JSON Schemas rather than with drf-spectacular's OpenApiWebhook: those take a serializer,
and the envelopes are JSON Schema already (which OpenAPI 3.1 takes as it is), the same the API's
/api/v1/event-types answers."""

from typing import Any

from events.types import EventType, event_type_catalog

_SIGNATURE_HEADERS = [
    ("webhook-id", "The event's id: the same on every retry; deduplicate on it."),
    ("webhook-timestamp", "Seconds since the epoch when this attempt was signed."),
    ("webhook-signature", 'Space-separated "v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>" (Standard Webhooks).'),
]


def component_name(event_type: str) -> str:
    """ "report.succeeded" -> "ReportSucceededEvent"."""
    words = event_type.replace("_", ".").split(".")
    return "".join(word.capitalize() for word in words) + "Event"


def _webhook(known: EventType, ref: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"webhook_{known.name.replace('.', '_')}",
            "summary": known.description,
            "tags": ["webhooks"],
            "parameters": [
                {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": text}
                for name, text in _SIGNATURE_HEADERS
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": ref}, "example": known.example}},
            },
            "responses": {
                "2XX": {"description": "Received. Anything else, or no answer within the timeout, is retried."},
                "410": {"description": "Gone: the endpoint is disabled at once and sent nothing more."},
            },
        }
    }


def document_webhooks(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    webhooks = result.setdefault("webhooks", {})
    for known in event_type_catalog():
        name = component_name(known.name)
        schema = {key: value for key, value in known.schema.items() if key != "$schema"}
        schemas[name] = schema
        webhooks[known.name] = _webhook(known, f"#/components/schemas/{name}")
    return result
