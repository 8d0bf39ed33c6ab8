"""A big document laid out in parts, at the same time, in child processes; then joined, with its pages numbered.

xhtml2pdf uses one core. A report of thousands of rows is cut by its type into consecutive parts
(`ReportType.split_context`); each part is laid out in a process forked from the warm worker, so it starts with
xhtml2pdf, fonts and templates already loaded. The parts come back as PDF bytes over pipes, pypdf joins them, and
"Page N of M" is drawn where the single-part layout puts it (base.html's `page-number` frame), because each part
only knows its own page numbers.

The children only lay out HTML: no database, no Redis. The worker's parent only joins, so its memory does not grow
with the size of the document. A child that fails fails the render; a timeout in the parent kills the children.
"""

import contextlib
import io
import os
import signal
from dataclasses import dataclass

from pypdf import PdfReader, PdfWriter
from reportlab.lib.colors import HexColor
from reportlab.lib.units import cm
from reportlab.pdfgen.canvas import Canvas

from reports.pdf import PdfRenderError, RenderedPdf, html_to_pdf


@dataclass(frozen=True)
class PageNumberStyle:
    """Where base.html's `page-number` frame puts its text: left margin, baseline, font and colour."""

    x: float = 1.6 * cm
    baseline: float = 39.6  # points from the bottom edge, as xhtml2pdf lays out the frame's first line
    font: str = "Helvetica"
    size: float = 8
    colour: str = "#627d98"


PAGE_NUMBERS = PageNumberStyle()


def _lay_out_in_child(html: str) -> tuple[int, int]:
    """Fork a child that lays out `html` and writes the PDF to a pipe; returns (pid, read end of the pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: lay out, write, leave without running the parent's clean-up code
        status = 1
        try:
            os.close(read_end)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            content = html_to_pdf(html, count_pages=False).content
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(content)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _collect(pid: int, read_end: int) -> bytes:
    with os.fdopen(read_end, "rb") as pipe:
        content = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not content:
        raise PdfRenderError("A part of the document could not be laid out.")
    return content


def _stop(children: list[tuple[int, int]]) -> None:
    for pid, read_end in children:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            os.close(read_end)


def lay_out_parts(parts: list[str]) -> list[bytes]:
    """Each part's PDF, laid out in a child process per part, all at once."""
    children: list[tuple[int, int]] = []
    try:
        for html in parts:
            children.append(_lay_out_in_child(html))
        results = []
        for index, (pid, read_end) in enumerate(children):
            results.append(_collect(pid, read_end))
            children[index] = (pid, -1)
        return results
    except BaseException:
        _stop([(pid, read_end) for pid, read_end in children if read_end != -1])
        raise


def _page_number_overlay(sizes: list[tuple[float, float]], style: PageNumberStyle) -> PdfReader:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    total = len(sizes)
    for number, (width, height) in enumerate(sizes, start=1):
        canvas.setPageSize((width, height))
        canvas.setFont(style.font, style.size)
        canvas.setFillColor(HexColor(style.colour))
        canvas.drawString(style.x, style.baseline, f"Page {number} of {total}")
        canvas.showPage()
    canvas.save()
    return PdfReader(io.BytesIO(buffer.getvalue()))


def join_and_number(contents: list[bytes], style: PageNumberStyle = PAGE_NUMBERS) -> RenderedPdf:
    writer = PdfWriter()
    for content in contents:
        writer.append(PdfReader(io.BytesIO(content)))
    sizes = [(float(page.mediabox.width), float(page.mediabox.height)) for page in writer.pages]
    overlay = _page_number_overlay(sizes, style)
    for page, numbers in zip(writer.pages, overlay.pages, strict=True):
        page.merge_page(numbers)
    buffer = io.BytesIO()
    writer.write(buffer)
    return RenderedPdf(content=buffer.getvalue(), pages=len(sizes))


def render_parts(parts: list[str]) -> RenderedPdf:
    """The PDF of a document given as consecutive parts (each a whole HTML document)."""
    return join_and_number(lay_out_parts(parts))
