"""Report types that misbehave on purpose, so the tests can watch the real worker deal with them."""

import os
import signal
import time
from pathlib import Path
from typing import Any

from reports.registry import BuildContext, ReportType, register

TEST_PERMISSION = "reports.add_report"


@register
class ExplodingReport(ReportType):
    key = "test_exploding"
    title = "Exploding"
    template_name = "reports/pdf/base.html"
    required_permission = TEST_PERMISSION

    def build(self, context: BuildContext) -> dict[str, Any]:
        raise ValueError("The ledger for 2026-13 does not exist.")


@register
class SlowReport(ReportType):
    """Sleeps for `seconds`, reporting progress, so that cancel and timeouts can catch it while running."""

    key = "test_slow"
    title = "Slow"
    template_name = "reports/pdf/base.html"
    required_permission = TEST_PERMISSION
    timeout = 2
    parameters_schema = {
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 30, "default": 1}},
        "additionalProperties": False,
    }

    def build(self, context: BuildContext) -> dict[str, Any]:
        steps = 10
        for step in range(steps):
            time.sleep(context.parameters["seconds"] / steps)
            context.set_progress((step + 1) * 100 // steps)
        return {}


@register
class ProcessReport(ReportType):
    """Prints the id of the process that built it, so the tests can see where the worker ran the job."""

    key = "test_process"
    title = "Process"
    template_name = "testapp/process.html"
    required_permission = TEST_PERMISSION

    def build(self, context: BuildContext) -> dict[str, Any]:
        return {"pid": os.getpid()}


@register
class IsolatedProcessReport(ProcessReport):
    key = "test_process_isolated"
    title = "Process (isolated)"
    isolated = True


def builds_log() -> Path:
    """Where the counted types note each build, so that the tests can count them across processes."""
    return Path(os.environ["REPORTSITE_TEST_RUN_DIR"]) / "builds.log"


def _note(event: str, report_id: str) -> None:
    # One short write with O_APPEND: lines from several workers never interleave.
    with builds_log().open("a") as log:
        log.write(f"{event} {report_id} {os.getpid()}\n")


@register
class CountedReport(ReportType):
    """Notes when each build starts and ends, and can take a while, so a worker can be killed in the middle."""

    key = "test_counted"
    title = "Counted"
    template_name = "reports/pdf/base.html"
    required_permission = TEST_PERMISSION
    timeout = 60
    parameters_schema = {
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 30, "default": 0}},
        "additionalProperties": False,
    }

    def build(self, context: BuildContext) -> dict[str, Any]:
        _note("start", context.report_id)
        steps = 10
        for step in range(steps):
            time.sleep(context.parameters["seconds"] / steps)
            context.set_progress((step + 1) * 100 // steps)
        _note("end", context.report_id)
        return {}


@register
class WorkerKillerReport(ReportType):
    """Kills the process building it, every time: what a segfault or the out-of-memory killer does to a worker."""

    key = "test_worker_killer"
    title = "Worker killer"
    template_name = "reports/pdf/base.html"
    required_permission = TEST_PERMISSION

    def build(self, context: BuildContext) -> dict[str, Any]:
        _note("start", context.report_id)
        os.kill(os.getpid(), signal.SIGKILL)
        return {}
