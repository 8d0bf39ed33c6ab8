"""A running report's proof of life. While a worker builds a report, a thread beside the build refreshes the
report's `heartbeat_at` every REPORT_HEARTBEAT_SECONDS; a worker killed mid-render (SIGKILL, out of memory, a lost
host) stops refreshing it, and the reaper sees that within REPORT_LOST_AFTER_SECONDS instead of waiting for the
report's whole timeout. It lives in the database, like the report: a Redis restart does not make a live worker look
dead, and it works the same for jobs run in the worker's process and in a forked child."""

import logging
import threading
from types import TracebackType

from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

from reports.models import Report, ReportStatus

logger = logging.getLogger(__name__)


class RenderHeartbeat:
    def __init__(self, report_id: str, interval: float | None = None):
        self.report_id = report_id
        self.interval = interval if interval is not None else settings.REPORT_HEARTBEAT_SECONDS
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{report_id}", daemon=True)

    def __enter__(self) -> "RenderHeartbeat":
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stopped.wait(self.interval):
                try:
                    Report.objects.filter(pk=self.report_id, status=ReportStatus.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:
                    logger.warning("Heartbeat of report %s not recorded", self.report_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's own connections
