"""A model_table's rows drawn by ReportLab (reports/pdf_tables.py) read as the same document xhtml2pdf lays out from the
HTML table: every row's cells in order, the heading on every page, every page numbered, about as many pages. Cell text
is shown as it is, never read as markup, and a cell of any length wraps inside its column."""

import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from reports.models import Report, ReportStatus
from reports.pdf_tables import DATA_TABLE, wrap_text
from reports.registry import BuildContext, report_types
from reports.rendering import render_report
from reports.services import report_create, report_render

pytestmark = pytest.mark.django_db

HEADINGS = ["Username", "Email address", "First name", "Last name", "Staff status"]
PASSWD = "/etc/passwd"


@dataclass
class Opened:
    """Files opened and sockets connected while recording (an audit hook cannot be removed: it stays, idle)."""

    recording: bool = False
    files: list[str] = field(default_factory=list)
    sockets: list[object] = field(default_factory=list)

    def __call__(self, event: str, args: tuple) -> None:
        if not self.recording:
            return
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            self.files.append(os.path.abspath(os.fsdecode(args[0])))
        elif event == "socket.connect":
            self.sockets.append(args[1])


OPENED = Opened()
sys.addaudithook(OPENED)


@pytest.fixture
def opened() -> Iterator[Opened]:
    OPENED.files.clear()
    OPENED.sockets.clear()
    yield OPENED
    OPENED.recording = False


def export(requester: User, count: int, **fields) -> tuple[Report, dict]:
    """A model_table of the requester and `count` more users, all columns; `fields` set on the first few."""
    User.objects.bulk_create(
        [
            User(username=f"row{number:04d}", email=f"r{number}@example.test", first_name="Row", last_name=str(number))
            for number in range(count)
        ]
    )
    for name, values in fields.items():
        for number, value in enumerate(values):
            User.objects.filter(username=f"row{number:04d}").update(**{name: value})
    report_type = report_types.get("model_table")
    parameters = {"model": "auth.user", "ids": [], "fields": [], "filters": {}}
    report = Report.objects.create(requested_by=requester, report_type="model_table", parameters=parameters)
    requester.is_superuser = True  # may view users
    context = report_type.build(
        BuildContext(report_id=report.id, parameters=parameters, requested_by=requester, set_progress=lambda _: None)
    )
    report.created_at = timezone.now()
    return report, context


def page_lines(content: bytes) -> list[list[str]]:
    return [
        [line.strip() for line in page.extract_text().splitlines() if line.strip()]
        for page in PdfReader(io.BytesIO(content)).pages
    ]


def body_lines(pages: list[list[str]]) -> list[str]:
    """Every line of the document but each page's header, footer, page number and repeated table heading."""
    lines = []
    for page in pages:
        for line in page:
            is_furniture = line.startswith(("Model table · ", "Generated ")) or re.fullmatch(r"Page \d+", line)
            if not is_furniture and line not in HEADINGS:
                lines.append(line)
    return lines


def squeezed(text: str) -> str:
    return "".join(text.split())


def test_the_table_path_shows_the_same_rows_headings_and_page_numbers_as_the_html_table(user, settings, monkeypatch):
    # Given a model_table of 451 users, laid out whole by xhtml2pdf from the HTML table, both generated at one time
    report, context = export(user, 450)
    generated_at = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: generated_at)
    report_type = report_types.get("model_table")
    settings.REPORT_RENDER_PROCESSES = 1
    html_table = render_report(report, report_type, context, table_path=False)

    # When the same report is rendered with its rows drawn by ReportLab
    drawn = render_report(report, report_type, context)

    # Then the text is the same, line for line, apart from each page's furniture
    html_pages, drawn_pages = page_lines(html_table.content), page_lines(drawn.content)
    assert body_lines(drawn_pages) == body_lines(html_pages)
    rows = [line for line in body_lines(drawn_pages) if re.fullmatch(r"row\d{4}", line)]
    assert rows == [f"row{number:04d}" for number in range(450)]
    # And every page has the heading of the table, its header, its footer and its number
    assert drawn.pages == len(drawn_pages)
    for number, lines in enumerate(drawn_pages, start=1):
        assert lines[0] == f"Model table · {report.id}"
        assert re.fullmatch(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", lines[1]), lines[1]
        assert f"Page {number}" in lines
        assert [line for line in lines if line in HEADINGS] == HEADINGS
    # And the title block is there once, as in the HTML table's document
    assert "\n".join(map("\n".join, drawn_pages)).count("Requested by") == 1
    # And the page count is within 10 % of the HTML table's
    assert abs(drawn.pages - html_table.pages) <= 0.1 * html_table.pages, (drawn.pages, html_table.pages)


def test_cell_text_that_looks_like_markup_is_shown_as_it_is_and_fetches_nothing(user, opened):
    # Given users whose first names are markup: an entity in bold, an image of a local file, escaped tags
    markup = ["<b>&amp;</b>", f'<img src="file://{PASSWD}">', "&lt;i&gt; & <br/>"]
    export(user, 300, first_name=markup)
    report = report_create(user=user, report_type="model_table", parameters={"model": "auth.user"})

    # When the report is built through the service the worker runs
    opened.recording = True
    report_render(report.id)
    opened.recording = False

    # Then each name is in the PDF as it was typed
    report = Report.objects.get(pk=report.id)
    assert report.status == ReportStatus.SUCCEEDED, report.error_message
    with report.file.open("rb") as handle:
        reader = PdfReader(io.BytesIO(handle.read()))
    text = squeezed("".join(page.extract_text() for page in reader.pages))
    for value in markup:
        assert squeezed(value) in text, value
    # And no image was drawn for it, nothing fetched, /etc/passwd not read
    assert [len(page.images) for page in reader.pages] == [0] * len(reader.pages)
    assert opened.sockets == []
    assert PASSWD not in opened.files
    # (the hook was live: it saw the stored PDF being written)
    assert any(path.endswith(f"{report.id}.pdf") for path in opened.files)


def test_a_cell_taller_than_a_page_wraps_in_its_column_and_is_shown_whole(user):
    # Given a row whose last-name cell holds 2,000 words, some of them longer than the column is wide
    report, context = export(user, 250)
    words = [f"word{number}" for number in range(2000)]
    words[10] = "x" * 300
    long_text = " ".join(words) + " END"
    context["tables"][0][5][3] = long_text
    report_type = report_types.get("model_table")

    # When the table is drawn
    drawn = render_report(report, report_type, context)

    # Then every word is in the PDF, once and in order (the row's other cells and each page's heading between)
    lines = body_lines(page_lines(drawn.content))
    text = "\n".join(lines)
    assert re.findall(r"\bword\d+\b|\bEND\b", text) == [*words[:10], *words[11:], "END"]
    assert "x" * 300 in "".join(lines)
    assert drawn.pages > 5
    assert "row0249" in lines  # and the rows after it
    # And no text runs past the right edge of the frame
    reader = PdfReader(io.BytesIO(drawn.content))
    frame_right = float(reader.pages[0].mediabox.width) - 1.6 / 2.54 * 72
    ends = []

    def note(text: str, cm, tm, font, size) -> None:
        if text.strip():
            ends.append(tm[4] + stringWidth(text, "Helvetica", 9))

    for page in reader.pages:
        page.extract_text(visitor_text=note)
    assert max(ends) <= frame_right + 0.5


def test_wrap_text_collapses_white_space_and_breaks_lines_between_words_then_inside_long_ones():
    look = DATA_TABLE
    room = stringWidth("abcde fghij", look.font, look.size)

    assert wrap_text("  abcde \n fghij  ", look.font, look.size, room) == "abcde fghij"
    assert wrap_text("abcde fghij klm", look.font, look.size, room) == "abcde fghij\nklm"
    lines = wrap_text("a" * 40, look.font, look.size, room).split("\n")
    assert "".join(lines) == "a" * 40
    assert len(lines) == 5
    assert all(stringWidth(line, look.font, look.size) <= room for line in lines)
    # a long word is cut after its last hyphen that fits
    assert wrap_text("abcdef-ghijklmno", look.font, look.size, room) == "abcdef-\nghijklmno"
    # one word a little wider than the room stays whole, into the padding, as xhtml2pdf draws it
    word = "abcdefghijk"
    assert wrap_text(word, look.font, look.size, room, overhang=look.right_padding) == word
