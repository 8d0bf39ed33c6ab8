"""A document's one big table drawn by ReportLab directly, in the page layout xhtml2pdf makes of the type's template.

xhtml2pdf spends about 2.4 ms on each row of an HTML table; ReportLab, the engine under it, lays the same row out in
a small part of that. So the template still makes everything but the rows (title, parameters, charts, header,
footer, page numbers): xhtml2pdf parses it into its story of ReportLab flowables (`pisaStory`), where the template
left a paragraph holding a placeholder, the placeholder is swapped for the table, and the story is built on the page
templates xhtml2pdf made of base.html. Both paths then share their frames, header, footer and `<pdf:pagenumber>`.

Cells are plain text, broken into lines here and drawn as strings: nothing in them is parsed as markup, fetched or
read, and a long one wraps inside its column.
"""

import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from pypdf import PdfReader
from reportlab.lib.colors import HexColor
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase.pdfmetrics import getAscent, stringWidth
from reportlab.platypus import Flowable, LongTable, Preformatted
from reportlab.platypus.tables import CellStyle, TableStyle
from xhtml2pdf.config.resources import render_budget, use_policy
from xhtml2pdf.context import pisaContext
from xhtml2pdf.default import DEFAULT_PAGE_NAME
from xhtml2pdf.document import _RENDER_LOCK, pisaStory
from xhtml2pdf.files import cleanFiles
from xhtml2pdf.util import reset_caches
from xhtml2pdf.xhtml2pdf_reportlab import PmlBaseDoc

from reports.pdf import PdfRenderError, RenderedPdf, link_callback, resource_policy


@dataclass(frozen=True)
class DataTable:
    """What a report type hands over: its column headings and its rows, as plain text."""

    headings: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class TableLook:
    """base.html's `table.data`, as xhtml2pdf draws it: keep the two in step."""

    font: str = "Helvetica"
    heading_font: str = "Helvetica-Bold"
    size: float = 9
    leading: float = 13.5  # xhtml2pdf's line-height of 1.5
    colour: str = "#1f2933"
    heading_colour: str = "#ffffff"
    heading_background: str = "#243b53"
    alternate_background: str = "#f0f4f8"  # tr.alt: every second row
    rule_colour: str = "#d9e2ec"
    rule_width: float = 0.3
    top_padding: float = 3
    right_padding: float = 4
    bottom_padding: float = 2
    left_padding: float = 4

    @property
    def least_row_height(self) -> float:
        return self.leading + self.top_padding + self.bottom_padding

    @property
    def raise_text(self) -> float:
        """ReportLab puts a cell's first baseline a font size below the top of its text, xhtml2pdf the font's
        ascent: the text is raised by the difference, taken from the top padding and given to the bottom one."""
        return self.size - getAscent(self.font, self.size)


DATA_TABLE = TableLook()


def new_placeholder() -> str:
    """Text for the template to print where the rows go: random, so that nothing the data says can stand for it."""
    return f"table-rows-{secrets.token_hex(16)}"


def _break_word(word: str, room: float, font: str, size: float) -> list[str]:
    """Pieces of `word` that each fit in `room`, cut after the last hyphen that fits, or else where it is full."""
    pieces = []
    while len(word) > 1 and stringWidth(word, font, size) > room:
        end, width = 0, 0.0
        while end < len(word) and width + stringWidth(word[end], font, size) <= room:
            width += stringWidth(word[end], font, size)
            end += 1
        hyphen = word.rfind("-", 0, end)
        cut = hyphen + 1 if hyphen > 0 else max(end, 1)
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word]


def wrap_text(text: str, font: str, size: float, room: float, overhang: float = 0) -> str:
    """`text` as HTML shows it in a cell `room` points wide: white space collapsed, lines broken between words,
    greedily. A word up to `overhang` wider than the room stays whole and runs into the padding, as xhtml2pdf draws
    it; a longer one is broken where it reaches the edge, so that no text leaves its column."""
    words = text.split()
    line = " ".join(words)
    line_width = stringWidth(line, font, size)
    if line_width <= room or (len(words) == 1 and line_width <= room + overhang):  # most cells: one line
        return line
    space = stringWidth(" ", font, size)
    lines: list[str] = []
    line, width = "", 0.0
    for word in words:
        word_width = stringWidth(word, font, size)
        if line and width + space + word_width <= room:
            line, width = f"{line} {word}", width + space + word_width
            continue
        if line:
            lines.append(line)
        if word_width > room + overhang:
            *whole, word = _break_word(word, room, font, size)
            lines += whole
            word_width = stringWidth(word, font, size)
        line, width = word, word_width
    return "\n".join([*lines, line])


@dataclass
class _CarriedRow:
    """The rest of a row cut by a page break (a cell taller than a page), as ReportLab's split left it."""

    index: int
    cells: list
    styles: list[CellStyle]


class PagedTable(Flowable):
    """Stands for a LongTable of every row, its heading row repeated on each page, while holding a table of only
    about a page of rows at a time (a window). ReportLab measures the whole rest of a table again at each page break,
    quadratic in its rows, and gives every cell a CellStyle of its own: 10,000 rows in one LongTable took 8 s, and
    50,000 would take minutes. Each split here cuts the window where the page ends and hands the rows after it to a
    new PagedTable, so that the heading starts each page and never the middle of one.
    """

    def __init__(
        self,
        table: DataTable,
        look: TableLook = DATA_TABLE,
        start: int = 0,
        carried: _CarriedRow | None = None,
        rows_per_page: int | None = None,
    ) -> None:
        super().__init__()
        self.table, self.look, self.start, self.carried = table, look, start, carried
        self.rows_per_page = rows_per_page  # how many rows the last page took: the next window's first guess
        self.hAlign = "LEFT"
        self._window: LongTable | None = None
        self._window_for: tuple[float, float] | None = None
        self._window_end = start

    @property
    def _is_last_window(self) -> bool:
        return self._window_end >= len(self.table.rows)

    def _window_table(self, width: float, height: float) -> LongTable:
        """A window of more rows than fit in `height`, so that the page cuts it: a table that ended inside a page
        would start the next window's heading in the middle of it. The last page's row count is tried first, then
        as many rows as the least row height allows."""
        if self._window is not None and self._window_for == (width, height):
            return self._window
        most = int(height // self.look.least_row_height) + 2
        count = min(most, self.rows_per_page + 2) if self.rows_per_page else most
        window = self._build_window(width, height, count)
        if count < most and not self._is_last_window and window.wrap(width, height)[1] <= height:
            window = self._build_window(width, height, most)
        self._window, self._window_for = window, (width, height)
        return window

    def _build_window(self, width: float, height: float, count: int, *, cut_first_row: bool = False) -> LongTable:
        look = self.look
        columns = len(self.table.headings)
        column_width = width / columns
        room = column_width - look.left_padding - look.right_padding
        self._window_end = min(len(self.table.rows), self.start + count)
        headings = [
            wrap_text(str(text), look.heading_font, look.size, room, look.right_padding) for text in self.table.headings
        ]
        data = [headings]
        styles = [[CellStyle("heading") for _ in range(columns)]]
        first = self.start  # the place of this window's first row in the whole table, for the stripes
        if self.carried is not None:
            data.append(self.carried.cells)
            styles.append(self.carried.styles)
            first = self.carried.index
        fresh = len(data)
        for row in self.table.rows[self.start : self._window_end]:
            data.append([wrap_text(str(text), look.font, look.size, room, look.right_padding) for text in row])
            styles.append([CellStyle("cell") for _ in range(columns)])
        if cut_first_row and self.carried is None:
            data[1] = [self._splittable(cell) for cell in data[1]]
        table = LongTable(
            data,
            colWidths=[column_width] * columns,
            repeatRows=1,
            splitInRow=1 if cut_first_row else 0,
            cellStyles=styles,
            hAlign="LEFT",
            style=self._table_style(fresh, first, cut_first_row=cut_first_row),
        )
        table.spaceBefore = table.spaceAfter = 0
        return table

    def _splittable(self, cell: str) -> str | Preformatted:
        """Lines that ReportLab cuts where the page ends: it cuts a cell's string as if its lines were 1.2 font
        sizes apart, not `leading`, and would run past the page. Preformatted text is not markup either."""
        if "\n" not in cell:
            return cell
        look = self.look
        style = ParagraphStyle(
            "data-cell", fontName=look.font, fontSize=look.size, leading=look.leading, textColor=HexColor(look.colour)
        )
        return Preformatted(cell, style)

    def _table_style(self, fresh: int, first: int, *, cut_first_row: bool) -> TableStyle:
        """Cell styles for the heading and for the rows new to this window; a carried row keeps what ReportLab set
        when it cut it. A row cut across pages is aligned to the top: ReportLab pushes the middle-aligned cells of
        a cut row apart with padding as tall as half the row, which leaves pages half empty."""
        look = self.look
        top, bottom = look.top_padding - look.raise_text, look.bottom_padding + look.raise_text

        def cells(first_row: int, last_row: int, font: str, colour: str) -> list[tuple]:
            area = (0, first_row), (-1, last_row)
            return [
                ("FONT", *area, font, look.size, look.leading),
                ("TEXTCOLOR", *area, HexColor(colour)),
                ("TOPPADDING", *area, top),
                ("BOTTOMPADDING", *area, bottom),
                ("LEFTPADDING", *area, look.left_padding),
                ("RIGHTPADDING", *area, look.right_padding),
                ("VALIGN", *area, "MIDDLE"),
            ]

        stripes = [None, HexColor(look.alternate_background)]
        return TableStyle(
            [
                *cells(0, 0, look.heading_font, look.heading_colour),
                ("BACKGROUND", (0, 0), (-1, 0), HexColor(look.heading_background)),
                *cells(fresh, -1, look.font, look.colour),
                *([("VALIGN", (0, 1), (-1, 1), "TOP")] if cut_first_row else []),
                # Stripes by a row's place in the whole table, as tr.alt marks every second row.
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), stripes if first % 2 == 0 else stripes[::-1]),
                ("LINEBELOW", (0, 1), (-1, -1), look.rule_width, HexColor(look.rule_colour)),
            ]
        )

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        self.width, self.height = self._window_table(availWidth, availHeight).wrap(availWidth, availHeight)
        return self.width, self.height

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:
        window = self._window_table(availWidth, availHeight)
        parts = window.split(availWidth, availHeight)
        if not parts and getattr(self, "_postponed", False):
            # Cut between two rows when one fits. A row is cut only when it does not fit on a page of its own, that
            # is once the document has moved this table on to a fresh page (marking it `_postponed`), as xhtml2pdf.
            window = self._build_window(availWidth, availHeight, window._nrows - 1, cut_first_row=True)
            self._window = window
            parts = window.split(availWidth, availHeight)
        if not parts:
            return []
        if len(parts) == 1:  # the whole window fits: only the last one can
            return parts if self._is_last_window else [*parts, self._rest(self._window_end, None)]
        done, rest = parts
        # ReportLab's split leaves no other way to tell how it cut than the row counts of its tables.
        window_rows, done_rows = window._nrows - 1, done._nrows - 1
        carried_rows = 1 if self.carried is not None else 0
        if done_rows + rest._nrows - 1 == window_rows:  # between two rows
            return [done, self._rest(self.start + done_rows - carried_rows, done_rows)]
        # Inside a row: `done` ends with its top, `rest` holds the remainder after its heading row.
        index = self.start + done_rows - 1 - carried_rows
        carried = _CarriedRow(index=index, cells=rest._cellvalues[1], styles=rest._cellStyles[1])
        return [done, PagedTable(self.table, self.look, index + 1, carried)]

    def _rest(self, start: int, rows_per_page: int | None) -> "PagedTable":
        return PagedTable(self.table, self.look, start, rows_per_page=rows_per_page or self.rows_per_page)

    def draw(self) -> None:
        """Drawn whole only when the rows left fit where it stands; otherwise the frame splits it first."""
        if not self._is_last_window:
            raise PdfRenderError("A table's window was drawn whole with rows still after it.")
        self._window.drawOn(self.canv, 0, 0)


def _swap_placeholder(story: list[Flowable], placeholder: str, table: Flowable) -> list[Flowable]:
    for index, flowable in enumerate(story):
        if (getattr(flowable, "text", None) or "").strip() == placeholder:
            return [*story[:index], table, *story[index + 1 :]]
    raise PdfRenderError("The template has no place for the table's rows.")


def html_with_table_to_pdf(html: str, placeholder: str, table: DataTable, look: TableLook = DATA_TABLE) -> RenderedPdf:
    """`html` laid out by xhtml2pdf under the project's resource policy (reports/pdf.py), with `table` where the
    paragraph reading `placeholder` was. The steps of xhtml2pdf's own pisaDocument, with the swap between its parse
    and its build; a template of this project uses none of what pisaDocument adds after the build (inserted PDFs,
    watermarks, signatures)."""
    policy = resource_policy()
    buffer = io.BytesIO()
    with _RENDER_LOCK:  # ReportLab keeps fonts and caches in globals: one conversion at a time, as pisaDocument
        context = pisaContext("")
        context.pathCallback = link_callback
        context.resource_policy = policy
        try:
            with use_policy(policy), render_budget(policy):
                context = pisaStory(html, link_callback=link_callback, encoding="utf-8", context=context)
                if context.err:
                    raise PdfRenderError(f"The PDF could not be laid out ({context.err} error(s)).")
                story = _swap_placeholder(context.story, placeholder, PagedTable(table, look))
                doc = PmlBaseDoc(
                    buffer,
                    pagesize=context.pageSize,
                    title=context.meta["title"].strip(),
                    author=context.meta["author"].strip(),
                    subject=context.meta["subject"].strip(),
                    showBoundary=0,
                    allowSplitting=1,
                    lang=context.lang_tag or None,
                )
                if DEFAULT_PAGE_NAME not in context.templateList:
                    raise PdfRenderError("The template has no @page rule for its pages.")
                templates = dict(context.templateList)
                body = templates.pop(DEFAULT_PAGE_NAME)
                doc.addPageTemplates([body, *templates.values()])
                doc.pisaPositioned = context.positioned
                if context.multiBuild:
                    doc.multiBuild(story)
                else:
                    doc.build(story)
        finally:
            cleanFiles()
            reset_caches()
    content = buffer.getvalue()
    return RenderedPdf(content=content, pages=len(PdfReader(io.BytesIO(content)).pages))
