"""The problems the events API answers for its domain errors (common/api/problems.py renders them)."""

from common.api.problems import register_problem
from events.selectors import CursorExpired

# The slug ends with "/cursor-expired" (SPEC §14), under the events' own namespace.
CURSOR_EXPIRED = "events/cursor-expired"


def register() -> None:
    """Called once from EventsConfig.ready()."""
    register_problem(CursorExpired, 410, CURSOR_EXPIRED, "Cursor expired")
