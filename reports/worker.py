"""The RQ worker class for this project (settings.RQ["WORKER_CLASS"]).

RQ's default worker forks a work horse per job. Whatever the parent has imported and warmed up, the child gets for
free, so the parent loads xhtml2pdf, renders a tiny PDF (fonts, default CSS) and compiles every report template
before it takes work. Database connections are closed before each fork: a connection must never be shared by two
processes.
"""

import gc
import logging

from django.db import connections, transaction
from rq import Worker

logger = logging.getLogger(__name__)


def preload() -> None:
    from django.urls import reverse

    from reports import live
    from reports.events import report_representation
    from reports.models import Report
    from reports.pdf import warm_up
    from reports.registry import report_types
    from reports.rendering import preload_templates

    warm_up()
    preload_templates(report_types.all())
    # First calls that every job would otherwise pay in its own horse: the URL resolver, the channel layer object,
    # the report serializer, and the ORM's query compilation for the claim.
    reverse("api:report-detail", kwargs={"report_id": "rep_warmup"})
    live.warm_up()
    report_representation(Report(id="rep_warmup", report_type="user_access"))
    with transaction.atomic():
        Report.objects.select_for_update().select_related("requested_by").filter(pk="rep_warmup").first()
    connections.close_all()
    # Move everything loaded so far out of the collector's reach: a forked child then does not touch (and copy)
    # these pages when the collector runs, which makes each fork cheaper.
    gc.collect()
    gc.freeze()


class ReportWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            preload()
        except Exception:
            logger.exception("Warm-up before forking failed; jobs will load what they need themselves")

    def fork_work_horse(self, job, queue):
        connections.close_all()
        super().fork_work_horse(job, queue)
