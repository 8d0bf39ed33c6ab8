"""The catalog of event types: each app names the events it writes, so that filters can refuse a type that does
not exist (a typo) instead of answering an empty list forever."""

_types: dict[str, str] = {}


def register_event_type(name: str, description: str) -> None:
    _types[name] = description


def event_types() -> dict[str, str]:
    """{type: description}, sorted by type."""
    return dict(sorted(_types.items()))


def is_event_type(name: str) -> bool:
    return name in _types
