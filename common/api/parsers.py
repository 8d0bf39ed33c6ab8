"""JSON bodies the rest of the stack can store and render: DRF's parser plus the checks it leaves out."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Deeper than any body this API takes; far below the depth where Python's recursion limit turns into a 500.
MAX_DEPTH = 32


def _refusal(data: Any) -> str | None:
    """Why a parsed body cannot be taken, or None. Walks without recursion, so that depth cannot hurt it."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            pending.extend((key, depth) for key in value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            if "\x00" in value:
                return "strings may not contain NUL (\\u0000)"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "strings may not contain unpaired surrogates (such as \\ud800)"
    return None


class StrictJSONParser(JSONParser):
    """Refuses, as a 400, JSON that is valid but would fail later as a 500: NUL characters (PostgreSQL cannot store
    them), unpaired surrogates (cannot be encoded as UTF-8 to answer), and nesting deep enough to exhaust the
    recursion limit of whatever walks it next."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep") from error
        refusal = _refusal(data)
        if refusal:
            raise ParseError(f"JSON parse error - {refusal}")
        return data
