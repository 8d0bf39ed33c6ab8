"""Report types that misbehave on purpose, so the tests can watch the real worker deal with them."""

import os
import time
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
