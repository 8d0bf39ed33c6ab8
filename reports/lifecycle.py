"""The lifecycle of a report (SPEC §3.2) in one place.

Every change of a report's status or progress is one of the moves below, made by `report_transition`: lock the row,
check that the move is allowed from the status it has now, set the fields, and write the event to the log, all in
one transaction. The event is in the log when the change commits, and only then (events/log.py).

    (new) ──enter──▶ queued ──start──▶ running ──succeed──▶ succeeded ──expire──▶ expired
                       │  ▲               │ ▲ │
                       │  └──requeue──────┘ └─┘ progress
                       ├──────cancel / fail─┴──────▶ cancelled / failed
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import Signal

from events.log import event_record
from reports.errors import ReportError
from reports.models import Report, ReportStatus


@dataclass(frozen=True)
class Move:
    name: str
    sources: frozenset[str]
    target: str
    # The event it writes; None: the event named after the new status ("report.succeeded").
    event_type: str | None = None

    @property
    def event(self) -> str:
        return self.event_type or f"report.{self.target}"


START = Move("start", frozenset({ReportStatus.QUEUED}), ReportStatus.RUNNING)
PROGRESS = Move("progress", frozenset({ReportStatus.RUNNING}), ReportStatus.RUNNING, "report.progress")
SUCCEED = Move("succeed", frozenset({ReportStatus.RUNNING}), ReportStatus.SUCCEEDED)
FAIL = Move("fail", frozenset({ReportStatus.QUEUED, ReportStatus.RUNNING}), ReportStatus.FAILED)
CANCEL = Move("cancel", frozenset({ReportStatus.QUEUED, ReportStatus.RUNNING}), ReportStatus.CANCELLED)
# A running report whose worker was lost goes back to the queue, to be tried again.
REQUEUE = Move("requeue", frozenset({ReportStatus.RUNNING}), ReportStatus.QUEUED)
EXPIRE = Move("expire", frozenset({ReportStatus.SUCCEEDED}), ReportStatus.EXPIRED)


class TransitionRefused(ReportError):
    """The move is not allowed from the report's current status (or its extra condition said no). `report` is the
    report as it is now, or None when it does not exist."""

    code = "transition_refused"

    def __init__(self, move: Move, report: Report | None):
        state = "gone" if report is None else report.status
        super().__init__(f"Cannot {move.name} a report that is {state}.")
        self.move = move
        self.report = report


# Sent once a report of a schedule's run is finished and committed (its schedule counts its failures); the schedules
# app listens (schedules/apps.py), as reports/ may not import it.
report_finished = Signal()


def record_report_event(report: Report, event_type: str | None = None) -> None:
    """Write the event of the report as it is now, in the current transaction."""
    from reports.api.serializers import report_representation  # the API's shape is the event's (SPEC §5)

    event_record(
        user_id=report.requested_by_id,
        event_type=event_type or f"report.{report.status}",
        data={"report": report_representation(report)},
        report=report,
    )


def report_enter(report: Report) -> Report:
    """Store a new report as queued, with its report.queued event, in one transaction."""
    report.status = ReportStatus.QUEUED
    with transaction.atomic(savepoint=False):
        report.save(force_insert=True)
        record_report_event(report)
    return report


def report_transition(
    report_id: str,
    move: Move,
    *,
    fields: dict[str, Any] | Callable[[Report], dict[str, Any]] | None = None,
    when: Callable[[Report], bool] | None = None,
    select_related: Iterable[str] = (),
) -> Report:
    """Make one move of the lifecycle and write its event, in one transaction (or the caller's).

    `fields` are set with the new status (a callable gets the locked report and returns them); `when` is an extra
    condition on the locked report. Raises TransitionRefused, changing nothing, when the move is not allowed."""
    with transaction.atomic():
        # Lock the report's row alone: with a join, FOR UPDATE would also lock the requester's auth_user row, and
        # a request of that user (whose INSERTs take a key-share lock on it through their foreign keys) would
        # deadlock against the event stream lock taken below.
        locked = Report.objects.select_for_update(of=("self",))
        report = locked.select_related(*select_related).filter(pk=report_id).first()
        if report is None or report.status not in move.sources or (when is not None and not when(report)):
            raise TransitionRefused(move, report)
        changes = fields(report) if callable(fields) else dict(fields or {})
        report.status = move.target
        for name, value in changes.items():
            setattr(report, name, value)
        report.save(update_fields=["status", *changes])
        record_report_event(report, move.event)
        if report.schedule_id and report.is_terminal:
            transaction.on_commit(partial(report_finished.send, sender=Report, report=report))
    return report
