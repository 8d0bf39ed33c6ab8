"""§11: templates never fetch a URL or read a file outside the project's static and media folders.

A probe report type renders, through the whole service path (report_create, report_render, the storage), a template
that asks for every kind of resource xhtml2pdf knows how to load: images, stylesheets (<link> and @import), fonts
(@font-face) and CSS backgrounds, pointing at /etc/passwd, at files in the working directory and at an HTTP listener
on 127.0.0.1. What was touched is observed from outside the renderer: the listener counts connections, and an audit
hook records every file opened and every socket connected while a render runs.

A control renders the same markup with xhtml2pdf's permissive policy and sees every probe go out, so a pass here
means the policy stopped them, not that the markup never asked.
"""

import copy
import http.server
import io
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import rest_framework
from django.conf import settings as django_settings
from PIL import Image
from pypdf import PdfReader
from xhtml2pdf import pisa
from xhtml2pdf.config.resources import PERMISSIVE_POLICY

from reports.models import Report, ReportStatus
from reports.registry import BuildContext, ReportType, report_types
from reports.services import report_create, report_render

pytestmark = pytest.mark.django_db

PASSWD = "/etc/passwd"


# --- Observation: an audit hook (installed once: audit hooks cannot be removed) that records only while on ---------


@dataclass
class AuditRecorder:
    recording: bool = False
    opened: list[str] = field(default_factory=list)
    connected: list[Any] = field(default_factory=list)

    def __call__(self, event: str, args: tuple) -> None:
        if not self.recording:
            return
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            self.opened.append(os.path.abspath(os.fsdecode(args[0])))
        elif event == "socket.connect":
            self.connected.append(args[1])

    def start(self) -> None:
        self.opened.clear()
        self.connected.clear()
        self.recording = True

    def stop(self) -> None:
        self.recording = False


AUDIT = AuditRecorder()
sys.addaudithook(AUDIT)


@pytest.fixture
def audit() -> Iterator[AuditRecorder]:
    yield AUDIT
    AUDIT.stop()


# --- Fixtures: a listener on 127.0.0.1, a working directory holding secrets, a probe report type -------------------


def png_bytes(colour: str = "red", size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


class Listener(http.server.ThreadingHTTPServer):
    """Counts every connection it accepts and every request it reads; answers a PNG or a stylesheet."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ListenerHandler)
        self.connections = 0
        self.paths: list[str] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    def verify_request(self, request, client_address) -> bool:
        self.connections += 1
        return True


class ListenerHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        is_png = self.path.endswith(".png")
        body = png_bytes("green") if is_png else b"p { color: #ff0000; }"
        self.send_response(200)
        self.send_header("Content-Type", "image/png" if is_png else "text/css")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """The process's working directory, holding an image and a stylesheet no template may read."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "secret.png").write_bytes(png_bytes("red"))
    (cwd / "secret.css").write_text("p { color: #00ff00; }\n")
    monkeypatch.chdir(cwd)
    return cwd


def hostile_markup(port: int) -> str:
    """Every way a template can ask xhtml2pdf for a resource, none of them under /static/ or /media/."""
    return f"""
<style>
  @import url(secret.css);
  @import url(http://127.0.0.1:{port}/import.css);
</style>
<style>
  @font-face {{ font-family: Probe; src: url(file://{PASSWD}); }}
  .probe-font {{ font-family: Probe; }}
  .probe-bg {{ background-image: url(http://127.0.0.1:{port}/background.png); }}
</style>
<link rel="stylesheet" href="secret.css">
<link rel="stylesheet" href="http://127.0.0.1:{port}/x.css">
<p class="probe-font">Font probe</p>
<div class="probe-bg">Background probe</div>
<img src="file://{PASSWD}">
<img src="secret.png">
<img src="http://127.0.0.1:{port}/x.png">
<img src="http://localhost:{port}/localhost.png">
"""


PROBE_PATHS = {"/import.css", "/x.css", "/background.png", "/x.png", "/localhost.png"}


class ResourceProbeReport(ReportType):
    key = "test_resource_probe"
    title = "Resource probe"
    description = "Asks for resources it must not get."
    template_name = "resource_probe/probe.html"
    parameters_schema = {
        "type": "object",
        "properties": {"note": {"type": "string", "default": "none"}},
        "additionalProperties": False,
    }

    def build(self, context: BuildContext) -> dict[str, Any]:
        context.set_progress(50)
        return {"note": context.parameters["note"]}


@pytest.fixture
def probe(tmp_path, settings, user) -> Iterator[Callable[..., Report]]:
    """Render a report of the probe type whose content block is `body`, in-process, through report_render."""
    template_dir = tmp_path / "templates"
    (template_dir / "resource_probe").mkdir(parents=True)
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [*templates[0]["DIRS"], template_dir]
    settings.TEMPLATES = templates
    report_types.register(ResourceProbeReport)

    def render(body: str, parameters: dict[str, Any] | None = None) -> Report:
        (template_dir / ResourceProbeReport.template_name).write_text(
            '{% extends "reports/pdf/base.html" %}{% block content %}<h2>Probe</h2><p>Note: {{ note }}</p>'
            + body
            + "{% endblock %}"
        )
        report = report_create(user=user, report_type=ResourceProbeReport.key, parameters=parameters or {})
        AUDIT.start()
        try:
            report_render(report.id)
        finally:
            AUDIT.stop()
        return Report.objects.get(pk=report.id)

    yield render
    report_types.unregister(ResourceProbeReport.key)


def pdf_of(report: Report) -> PdfReader:
    with report.file.open("rb") as handle:
        return PdfReader(io.BytesIO(handle.read()))


def pdf_text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def squeezed(text: str) -> str:
    return "".join(text.split())


# --- The guarantee ------------------------------------------------------------------------------------------------


def test_hostile_template_renders_without_fetching_a_url_or_reading_a_file(probe, listener, workdir, audit):
    # Given a report type whose template asks for /etc/passwd, files in the working directory and URLs on this host
    # When a report of that type is built through the service the worker runs
    report = probe(hostile_markup(listener.port))

    # Then the report succeeds with a PDF, the refused resources simply left out
    assert report.status == ReportStatus.SUCCEEDED, report.error_message
    reader = pdf_of(report)
    assert report.file_pages == len(reader.pages) == 1
    assert [len(page.images) for page in reader.pages] == [0]
    text = pdf_text(reader)
    assert "Font probe" in text
    assert "Background probe" in text

    # And the listener was never contacted, nor was any socket connected during the render
    assert listener.connections == 0
    assert listener.paths == []
    assert audit.connected == []

    # And neither /etc/passwd nor the working directory's files were opened
    secrets = {PASSWD, str(workdir / "secret.png"), str(workdir / "secret.css")}
    assert secrets.isdisjoint(audit.opened)
    # (the audit hook does see the render's own writes: the stored PDF was opened, so the hook was live)
    assert any(path.endswith(f"{report.id}.pdf") for path in audit.opened)


def test_control_the_same_markup_under_a_permissive_policy_does_fetch_and_read(listener, workdir, audit):
    # Given the hostile markup, rendered by xhtml2pdf with no confinement at all
    html = f"<html><body>{hostile_markup(listener.port)}</body></html>"

    # When it is rendered
    audit.start()
    status = pisa.CreatePDF(html, dest=io.BytesIO(), resource_policy=PERMISSIVE_POLICY)
    audit.stop()

    # Then every probe reaches out: each URL is requested and each file is opened, so the probes are live
    assert status.err == 0
    assert set(listener.paths) == PROBE_PATHS
    assert {PASSWD, str(workdir / "secret.png"), str(workdir / "secret.css")} <= set(audit.opened)


def test_image_under_media_root_is_embedded(probe, listener, workdir, audit):
    # Given a PNG under MEDIA_ROOT, referenced by its /media/ URL next to a refused one
    media_root = Path(django_settings.MEDIA_ROOT)
    media_root.mkdir(parents=True, exist_ok=True)
    logo = media_root / f"probe-logo-{workdir.parent.name}.png"
    logo.write_bytes(png_bytes("blue", size=24))
    try:
        # When the probe renders it
        report = probe(f'<img src="/media/{logo.name}" width="24" height="24"><img src="secret.png">')
    finally:
        logo.unlink()

    # Then the media image is in the PDF, and only it
    assert report.status == ReportStatus.SUCCEEDED, report.error_message
    images = pdf_of(report).pages[0].images
    assert len(images) == 1
    assert images[0].image.size == (24, 24)
    assert str(logo) in audit.opened
    assert str(workdir / "secret.png") not in audit.opened


def test_image_in_a_static_source_folder_is_embedded(probe, settings, tmp_path, workdir, audit):
    # Given a PNG in a folder of STATICFILES_DIRS, referenced by its /static/ URL
    static_dir = tmp_path / "static"
    (static_dir / "probe").mkdir(parents=True)
    (static_dir / "probe" / "mark.png").write_bytes(png_bytes("purple", size=16))
    settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, static_dir]

    # When the probe renders it
    report = probe('<img src="/static/probe/mark.png" width="16" height="16">')

    # Then it is embedded
    assert report.status == ReportStatus.SUCCEEDED, report.error_message
    images = pdf_of(report).pages[0].images
    assert len(images) == 1
    assert images[0].image.size == (16, 16)
    assert str(static_dir / "probe" / "mark.png") in audit.opened


def test_parameter_holding_markup_is_printed_as_text_and_fetches_nothing(probe, listener, workdir, audit):
    # Given a parameter whose value is markup asking for a URL on this host and a file in the working directory
    note = f'<img src="http://127.0.0.1:{listener.port}/param.png"><b>bold</b><img src="secret.png">'

    # When a report is built with it
    report = probe("", parameters={"note": note})

    # Then the report succeeds and the value is printed as text, where the template uses it and in the parameters
    assert report.status == ReportStatus.SUCCEEDED, report.error_message
    reader = pdf_of(report)
    text = squeezed(pdf_text(reader))
    assert text.count(squeezed(note)) == 2
    assert [len(page.images) for page in reader.pages] == [0]

    # And nothing was fetched or read for it
    assert listener.connections == 0
    assert audit.connected == []
    assert str(workdir / "secret.png") not in audit.opened


# --- Bugs: these assertions fail against the current reports/pdf.py -------------------------------------------------


def test_static_url_climbing_out_of_the_static_folders_is_refused_and_the_render_succeeds(probe, workdir, audit):
    # Given a template with a /static/ URL that climbs out with "..", next to the same climb under /media/
    body = f'<img src="/media/../../../../../..{PASSWD}"><img src="/static/../../../../../..{PASSWD}">'

    # When a report of it is built
    report = probe(body)

    # Then /etc/passwd is not read
    assert PASSWD not in audit.opened
    # And, like the /media/ climb (and any other refused resource), the image is left out and the report succeeds.
    # BUG (reports/pdf.py, link_callback): finders.find() raises SuspiciousFileOperation for the climbing path and
    # nothing catches it, so the whole report fails with build_failed and a message that shows the requester the
    # server's static folder ("The joined path (/etc/passwd) is located outside of the base path component
    # (<project>/static)").
    assert (report.status, report.error_code, report.error_message) == (ReportStatus.SUCCEEDED, "", "")


def test_static_file_of_an_installed_app_is_embedded_from_static_root(probe, settings, tmp_path, workdir, audit):
    # Given an installed app's static file (Django REST framework's grid.png), collected into STATIC_ROOT as
    # `collectstatic` does, and referenced by its /static/ URL as {% static %} writes it
    app_file = Path(rest_framework.__file__).parent / "static" / "rest_framework" / "img" / "grid.png"
    static_root = tmp_path / "staticfiles"
    (static_root / "rest_framework" / "img").mkdir(parents=True)
    shutil.copyfile(app_file, static_root / "rest_framework" / "img" / "grid.png")
    settings.STATIC_ROOT = static_root

    # When a report of it is built
    report = probe('<img src="/static/rest_framework/img/grid.png">')

    # Then the image is embedded: it lies under STATIC_ROOT, a folder the renderer may read.
    # BUG (reports/pdf.py, link_callback): finders.find() answers the app's own copy in site-packages, which is
    # outside the roots handed to the resource policy, so the policy refuses it and the image is silently dropped;
    # the STATIC_ROOT copy is never tried. Every /static/ asset that lives in an app's static/ folder (the usual
    # place) is missing from the PDFs.
    assert report.status == ReportStatus.SUCCEEDED, report.error_message
    assert len(pdf_of(report).pages[0].images) == 1
