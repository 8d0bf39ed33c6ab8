"""OpenAPI post-processing (drf-spectacular's POSTPROCESSING_HOOKS): the errors every operation can give.

Views document the answers particular to them; what the stack adds to all of them is said once, here: errors are
`application/problem+json`, every operation may answer 401 (no credentials) and 406 (an Accept it cannot meet),
operations with a path id or a list cursor 404, and operations with a body 400, 413 (too large) and 415 (not
JSON)."""

from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}
_DESCRIPTIONS = {
    "400": "Invalid request (problem details, with field errors)",
    "401": "Missing or invalid credentials",
    "404": "No such resource, or not yours",
    "406": "The Accept header asks for something other than JSON",
    "413": "The request body is too large",
    "415": "The request body is not JSON",
}


def _problem(description: str) -> dict[str, Any]:
    return {"content": {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_SCHEMA}}, "description": description}


def problem_responses(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method.startswith("x-") or not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            statuses = ["401", "406"]
            query = {param.get("name") for param in operation.get("parameters", []) if param.get("in") == "query"}
            if "{" in path or "cursor" in query:  # a cursor that is not one of ours is a 404, as DRF answers it
                statuses.append("404")
            if "requestBody" in operation:
                statuses += ["400", "413", "415"]
            for code in statuses:
                responses.setdefault(code, _problem(_DESCRIPTIONS[code]))
            for code, response in responses.items():
                content = response.get("content", {})
                if code.startswith(("4", "5")) and "application/json" in content:
                    content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
    return result
