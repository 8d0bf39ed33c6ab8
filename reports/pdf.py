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


def _allowed_roots() -> tuple[Path, ...]:
    roots = [Path(settings.STATIC_ROOT), Path(settings.MEDIA_ROOT), *map(Path, settings.STATICFILES_DIRS)]
    return tuple(root for root in roots if root.exists())


def resource_policy() -> ResourceAccessPolicy:
    return ResourceAccessPolicy.server(
        base_dir=None,
        extra_roots=_allowed_roots(),
        allow_remote=False,
        max_render_seconds=None,  # the job's own timeout bounds the whole render
    )


def link_callback(uri: str, rel: str) -> str:
    """Map /static/... and /media/... URLs to files; leave anything else for the policy to refuse."""
    path = unquote(urlsplit(uri).path) if urlsplit(uri).scheme in ("", "http", "https") else ""
    static_url, media_url = "/" + settings.STATIC_URL.lstrip("/"), "/" + settings.MEDIA_URL.lstrip("/")
    if uri.startswith(static_url) and not urlsplit(uri).scheme:
        found = finders.find(path.removeprefix(static_url)) or str(
            Path(settings.STATIC_ROOT) / path.removeprefix(static_url)
        )
        return found
    if uri.startswith(media_url) and not urlsplit(uri).scheme:
        return str(Path(settings.MEDIA_ROOT) / path.removeprefix(media_url))
    return uri


def html_to_pdf(html: str) -> RenderedPdf:
    buffer = io.BytesIO()
    status = pisa.CreatePDF(
        html, dest=buffer, link_callback=link_callback, resource_policy=resource_policy(), encoding="utf-8"
    )
    if status.err:
        raise PdfRenderError(f"The PDF could not be laid out ({status.err} error(s)).")
    content = buffer.getvalue()
    return RenderedPdf(content=content, pages=len(PdfReader(io.BytesIO(content)).pages))


def warm_up() -> None:
    """Render a tiny document once, so that fonts and xhtml2pdf's default CSS are loaded before a worker forks."""
    html_to_pdf("<html><body><h1>warm-up</h1><table><tr><td>1</td></tr></table></body></html>")
