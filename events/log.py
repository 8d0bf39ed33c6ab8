"""Writing to the event log: `event_record` appends one event to a user's stream inside the caller's transaction
and fans it out once that transaction commits (events/fanout.py).

`sequence` is strictly increasing in commit order within one user's events, with no gaps. A global counter (an
auto-increment id) would not be: two transactions can take 7 and 8 and commit 8 first, and a client that read 8
and resumes "after 8" would never see 7. Here the next number comes from an UPDATE of the user's `EventStream`
row, which holds that row's lock until the transaction ends: a second transaction of the same user waits at its
UPDATE until the first commits (or rolls back, giving the number back), so numbers are taken in commit order. On
SQLite a write transaction excludes every other anyway.
"""

import json
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from events.models import Event, EventStream, new_event_id


def _timestamp(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _next_sequence(user_id: int) -> int:
    table = EventStream._meta.db_table
    sql = f"UPDATE {table} SET last_sequence = last_sequence + 1 WHERE user_id = %s RETURNING last_sequence"  # noqa: S608 - our own table name
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id])
        row = cursor.fetchone()
        if row is None:  # the user's first event: make the row (a concurrent first event may make it too)
            EventStream.objects.bulk_create([EventStream(user_id=user_id)], ignore_conflicts=True)
            cursor.execute(sql, [user_id])
            row = cursor.fetchone()
    return row[0]


_INSERT_FIELDS = ("id", "user", "report", "type", "sequence", "envelope_json", "created_at")


def _insert(event: Event) -> None:
    """One plain INSERT, the values prepared by each field as the ORM would. Every change of every report writes
    one, inside its transaction: `save()` costs several times the statement itself (measured: 0.3 ms of Python per
    event), for nothing this row needs (no signal, default or related object)."""
    fields = [Event._meta.get_field(name) for name in _INSERT_FIELDS]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    values = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields]
    table = connection.ops.quote_name(Event._meta.db_table)
    placeholders = ", ".join(["%s"] * len(values))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 - our own table and columns
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
    event._state.adding = False
    event._state.db = connection.alias


def event_record(*, user_id: int, event_type: str, data: dict[str, Any], report: Any = None) -> Event:
    """Append an event to the user's stream in the current transaction; once it commits, fan it out.

    Call it inside the transaction that makes the change the event describes (it opens one if there is none, and
    then the event alone is committed)."""
    from events.fanout import fan_out_after_commit  # fan-out reads the log written here

    # No savepoint inside the caller's transaction: the event is part of it, and a savepoint costs round trips.
    with transaction.atomic(savepoint=False):
        sequence = _next_sequence(user_id)
        now = timezone.now()
        event_id = new_event_id()
        envelope = {
            "id": event_id,
            "type": event_type,
            "sequence": sequence,
            "timestamp": _timestamp(now),
            "data": data,
        }
        event = Event(
            id=event_id,
            user_id=user_id,
            report=report,
            type=event_type,
            sequence=sequence,
            envelope_json=json.dumps(envelope, separators=(",", ":"), ensure_ascii=False),
            created_at=now,
        )
        event.__dict__["envelope"] = envelope  # what envelope_json holds, without parsing it again
        _insert(event)
        transaction.on_commit(lambda: fan_out_after_commit(event))
    return event
