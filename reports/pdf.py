"""HTML to PDF with xhtml2pdf, confined to the project's static and media folders.

Templates can be fed text from parameters, so the renderer is treated as handling untrusted markup: no URL is
fetched and no file is read except under STATIC_ROOT, the static source folders and MEDIA_ROOT. xhtml2pdf's
resource policy enforces this inside the fetcher, which also covers fonts, CSS imports and backgrounds that a
`link_callback` alone would miss; the policy's `base_dir=None` stops the default of reading the working directory.
"""

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from pypdf import PdfReader
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import ResourceAccessPolicy

logger = logging.getLogger(__name__)


class PdfRenderError(Exception):
    """xhtml2pdf reported errors; the message lists them."""


@dataclass(frozen=True)
class RenderedPdf:
    content: bytes
    pages: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def _static_roots() -> list[Path]:
    """Every folder the static files finders serve from: STATICFILES_DIRS and each installed app's static/."""
    roots = []
    for finder in finders.get_finders():
        for storage in getattr(finder, "storages", {}).values():
            location = getattr(storage, "location", None)
            if location:
                roots.append(Path(location))
    return roots


def _allowed_roots() -> tuple[Path, ...]:
    roots = [Path(settings.STATIC_ROOT), Path(settings.MEDIA_ROOT), *_static_roots()]
    return tuple(dict.fromkeys(root for root in roots if root.exists()))


def resource_policy() -> ResourceAccessPolicy:
    return ResourceAccessPolicy.server(
        base_dir=None,
        extra_roots=_allowed_roots(),
        allow_remote=False,
        max_render_seconds=None,  # the job's own timeout bounds the whole render
    )


def _url_prefix(setting: str) -> str:
    return "/" + setting.strip("/") + "/"


def link_callback(uri: str, rel: str) -> str:
    """Map /static/... and /media/... to files. Anything else is returned as it is, for the policy to refuse; a
    path that climbs out of its folder resolves outside every allowed root and is refused the same way."""
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc:
        return uri
    path = unquote(parts.path)
    static_prefix, media_prefix = _url_prefix(settings.STATIC_URL), _url_prefix(settings.MEDIA_URL)
    if path.startswith(static_prefix):
        relative = path.removeprefix(static_prefix)
        try:
            found = finders.find(relative)
        except SuspiciousFileOperation:
            found = None
        return found or str(Path(settings.STATIC_ROOT) / relative)
    if path.startswith(media_prefix):
        return str(Path(settings.MEDIA_ROOT) / path.removeprefix(media_prefix))
    return uri


def html_to_pdf(html: str, *, count_pages: bool = True) -> RenderedPdf:
    """`count_pages=False` skips reading the result back (pages = 0), for a part whose pages are counted later."""
    buffer = io.BytesIO()
    status = pisa.CreatePDF(
        html, dest=buffer, link_callback=link_callback, resource_policy=resource_policy(), encoding="utf-8"
    )
    if status.err:
        raise PdfRenderError(f"The PDF could not be laid out ({status.err} error(s)).")
    content = buffer.getvalue()
    pages = len(PdfReader(io.BytesIO(content)).pages) if count_pages else 0
    return RenderedPdf(content=content, pages=pages)


def warm_up() -> None:
    """Render a tiny document once, so that fonts and xhtml2pdf's default CSS are loaded before a worker forks."""
    html_to_pdf("<html><body><h1>warm-up</h1><table><tr><td>1</td></tr></table></body></html>")
