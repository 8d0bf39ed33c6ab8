"""Big documents laid out in parts at the same time, then joined: every row once and in order, the title once,
and every page numbered "Page N" as a whole-document layout would; a failing or overrunning part stops it all."""

import io
import os
import re
import signal
import time

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pypdf import PdfReader

from reports import pdf_parts
from reports.models import Report
from reports.pdf import PdfRenderError
from reports.registry import BuildContext, report_types
from reports.rendering import render_report

pytestmark = pytest.mark.django_db


def page_texts(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


@pytest.fixture
def export(user) -> tuple[Report, dict]:
    """A model_table of 450 users: five tables of rows, enough to be laid out in parts."""
    User.objects.bulk_create(
        [User(username=f"row{number:04d}", email=f"r{number}@example.test") for number in range(449)]
    )
    report_type = report_types.get("model_table")
    parameters = {"model": "auth.user", "ids": [], "fields": ["username", "email"], "filters": {}}
    report = Report.objects.create(requested_by=user, report_type="model_table", parameters=parameters)
    user.is_superuser = True  # may view users
    context = report_type.build(
        BuildContext(report_id=report.id, parameters=parameters, requested_by=user, set_progress=lambda percent: None)
    )
    report.created_at = timezone.now()
    return report, context


def test_parts_joined_hold_every_row_once_in_order_and_number_every_page(export, settings):
    report, context = export
    report_type = report_types.get("model_table")
    settings.REPORT_RENDER_PROCESSES = 1
    whole = render_report(report, report_type, context, table_path=False)
    settings.REPORT_RENDER_PROCESSES = 2
    assert len(report_type.split_context(context, 2)) == 2

    joined = render_report(report, report_type, context, table_path=False)  # the HTML table, not ReportLab's

    texts = page_texts(joined.content)
    assert joined.pages == len(texts) > 2
    for number, text in enumerate(texts, start=1):
        assert f"\nPage {number}\n" in text
    rows = re.findall(r"^row(\d{4})$", "\n".join(texts), flags=re.MULTILINE)
    assert rows == [f"{number:04d}" for number in range(449)]
    assert rows == re.findall(r"^row(\d{4})$", "\n".join(page_texts(whole.content)), flags=re.MULTILINE)
    assert "\n".join(texts).count("Requested by") == 1  # the title block once, not once per part
    generated = {line.strip() for text in texts for line in text.splitlines() if line.strip().startswith("Generated ")}
    assert len(generated) == 1, generated  # one time in every part's footer
    assert "Users (auth.user)" in texts[0]


def test_a_part_that_fails_fails_the_render(monkeypatch):
    def broken(html, **kwargs):
        raise ValueError("no layout")

    monkeypatch.setattr(pdf_parts, "html_to_pdf", broken)  # the forked children inherit it

    with pytest.raises(PdfRenderError, match="could not be laid out"):
        pdf_parts.render_parts(["<p>1</p>", "<p>2</p>"], processes=2)


def test_an_interrupted_render_kills_its_children(monkeypatch):
    started = []

    def stuck(html, **kwargs):
        time.sleep(60)

    def interrupt(signum, frame):
        raise TimeoutError("the job's time is up")

    monkeypatch.setattr(pdf_parts, "html_to_pdf", stuck)
    original_fork = os.fork

    def recording_fork():
        pid = original_fork()
        if pid:
            started.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recording_fork)
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.alarm(1)  # what RQ's death penalty does to a job past its timeout
        with pytest.raises(TimeoutError):
            pdf_parts.lay_out_parts(["<p>1</p>", "<p>2</p>", "<p>3</p>"], processes=2)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

    assert len(started) == 2  # two at a time: the third never started
    for pid in started:
        with pytest.raises(ChildProcessError):  # already reaped: killed and waited for, none left behind
            os.waitpid(pid, os.WNOHANG)
