"""A big document laid out in parts, at the same time, in child processes; then joined, with its pages numbered.

xhtml2pdf uses one core. A report of thousands of rows is cut by its type into consecutive parts
(`ReportType.split_context`); each part is laid out in a process forked from the warm worker, so it starts with
xhtml2pdf, fonts and templates already loaded, at most REPORT_RENDER_PROCESSES at a time. The parts come back as
PDF files in a temporary folder, pypdf joins them, and
"Page N" is drawn where the single-part layout puts it (base.html's `page-number` frame), because each part
only knows its own page numbers.

The children only lay out HTML: no database, no Redis. The worker's parent only joins, so its memory does not grow
with the size of the document. A child that fails fails the render; a timeout in the parent kills the children.
"""

import contextlib
import gc
import io
import os
import select
import signal
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


def _start_layout(html: str, destination: Path) -> int:
    """Fork a child that lays out `html` into the file `destination`; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child: lay out, write, leave without running the parent's clean-up code
        status = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            # The child lives for one layout: the cycle collector would walk xhtml2pdf's many objects again and
            # again (10 to 20 % of the time) to free memory that the child's exit gives back anyway.
            gc.disable()
            destination.write_bytes(html_to_pdf(html, count_pages=False).content)
            status = 0
        finally:
            os._exit(status)
    return pid


def _stop(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _wait_for_one(running: dict[int, int]) -> tuple[int, int]:
    """Wait until one of our children exits and reap it; returns (pid, exit status). Other children of the worker
    (RQ's scheduler) are never waited for: each child is watched through a pidfd of its own."""
    pidfds = {os.pidfd_open(pid): pid for pid in running}
    try:
        ready, _, _ = select.select(list(pidfds), [], [])
        pid = pidfds[ready[0]]
        _, status = os.waitpid(pid, 0)
        return pid, status
    finally:
        for pidfd in pidfds:
            os.close(pidfd)


Part = str | Callable[[], str]


def lay_out_parts(parts: Sequence[Part], processes: int) -> list[bytes]:
    """Each part's PDF, laid out in a child process per part, at most `processes` at a time: parts smaller than
    the whole keep each child's memory small, and xhtml2pdf takes longer per row the longer the document.

    A part may be a function that makes its HTML: it is called just before its child starts, so the HTML of the
    next part is made while the first is already being laid out."""
    with tempfile.TemporaryDirectory(prefix="report-parts-") as folder:
        destinations = [Path(folder) / f"part-{index:04d}.pdf" for index in range(len(parts))]
        waiting = list(range(len(parts)))
        running: dict[int, int] = {}  # pid -> part index
        try:
            while waiting or running:
                while waiting and len(running) < max(1, processes):
                    index = waiting.pop(0)
                    part = parts[index]
                    running[_start_layout(part if isinstance(part, str) else part(), destinations[index])] = index
                pid, status = _wait_for_one(running)
                index = running.pop(pid)
                if status != 0 or not destinations[index].exists():
                    raise PdfRenderError(f"Part {index + 1} of {len(parts)} of the document could not be laid out.")
        except BaseException:
            _stop(list(running))
            raise
        return [destination.read_bytes() for destination in destinations]


def _page_number_overlay(sizes: list[tuple[float, float]], style: PageNumberStyle) -> PdfReader:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    for number, (width, height) in enumerate(sizes, start=1):
        canvas.setPageSize((width, height))
        canvas.setFont(style.font, style.size)
        canvas.setFillColor(HexColor(style.colour))
        canvas.drawString(style.x, style.baseline, f"Page {number}")
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


def render_parts(parts: Sequence[Part], processes: int) -> RenderedPdf:
    """The PDF of a document given as consecutive parts (each a whole HTML document, or a function making it)."""
    return join_and_number(lay_out_parts(parts, processes))
