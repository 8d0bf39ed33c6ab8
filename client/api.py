"""`ReportsClient`: the REST calls an integrator needs (submit, read, wait, download), over one httpx connection
pool, with every error turned into an exception from `client.errors`."""

from __future__ import annotations

import hashlib
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from client import streams, waiting
from client.backoff import Backoff, Clock, Deadline, Sleep, parse_retry_after
from client.errors import ApiError, ChecksumMismatch, ClientError, TransportError, is_retryable

USER_AGENT = "reports-client/0.1"
# The API's answer while the first request with the same Idempotency-Key is still being processed.
KEY_IN_USE = "urn:reportsite:problem:idempotency-key-in-use"
CHUNK_BYTES = 64 * 1024

Report = dict[str, Any]


@dataclass(frozen=True)
class DownloadedFile:
    path: Path
    sha256: str
    size_bytes: int


class ReportsClient:
    """A client for one site and one API token.

    `sleep`, `clock` and `rng` are injectable so that tests (and callers with their own event loop or scheduler)
    control time; the defaults are the real ones."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        backoff: Backoff | None = None,
        submit_attempts: int = 4,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.backoff = backoff or Backoff()
        self.submit_attempts = submit_attempts
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Token {token}", "Accept": "application/json", "User-Agent": USER_AGENT},
            # A short connect timeout: an unreachable host is a retryable failure, found out quickly.
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ReportsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Requests ---------------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a 4xx/5xx answer raises `ApiError` (with the server's `Retry-After`), no answer
        `TransportError`."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise TransportError(f"{method} {self.base_url}{path}: {error or type(error).__name__}") from error
        if response.is_error:
            raise ApiError.from_response(response, parse_retry_after(response.headers.get("Retry-After")))
        return response

    @staticmethod
    def report_path(report_id: str) -> str:
        return f"/api/v1/reports/{quote(report_id, safe='')}"

    def submit(
        self,
        report_type: str,
        parameters: dict[str, Any] | None = None,
        *,
        callback_url: str | None = None,
        notify: dict[str, bool] | None = None,
        idempotency_key: str | None = None,
    ) -> Report:
        """POST /api/v1/reports; answers the created report (201), or the first answer again for a repeated key.

        Always sent with an Idempotency-Key (a fresh UUID unless given), so that retrying after a lost answer, a
        429 or a 503 can never create a second report. Retries at most `submit_attempts` times in all."""
        body: dict[str, Any] = {"report_type": report_type, "parameters": parameters or {}}
        if callback_url:
            body["callback_url"] = callback_url
        if notify:
            body["notify"] = notify
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        attempt = 0
        while True:
            try:
                return self.request("POST", "/api/v1/reports", json=body, headers=headers).json()
            except ClientError as error:
                in_use = isinstance(error, ApiError) and error.status == 409 and error.type == KEY_IN_USE
                attempt += 1
                if not (is_retryable(error) or in_use) or attempt >= self.submit_attempts:
                    raise
                retry_after = error.retry_after if isinstance(error, ApiError) else None
                self.sleep(self.backoff.delay(attempt - 1, retry_after=retry_after, rng=self.rng))

    def fetch_report(self, report_id: str) -> tuple[Report, float | None]:
        """The report and the server's `Retry-After` hint (seconds; None once it is finished)."""
        response = self.request("GET", self.report_path(report_id))
        return response.json(), parse_retry_after(response.headers.get("Retry-After"))

    def get_report(self, report_id: str) -> Report:
        return self.fetch_report(report_id)[0]

    def long_poll(self, report_id: str, seconds: int) -> tuple[Report, float | None, bool]:
        """GET with `Prefer: wait=<seconds>` (SPEC §17): the server answers when the report finishes or the time is
        up. Also says whether the server honoured the wait (`Preference-Applied`); one that did not answered at
        once, as a poll. `seconds` must stay below the client's read timeout."""
        response = self.request("GET", self.report_path(report_id), headers={"Prefer": f"wait={seconds}"})
        applied = response.headers.get("Preference-Applied", "").replace(" ", "").lower() == f"wait={seconds}"
        return response.json(), parse_retry_after(response.headers.get("Retry-After")), applied

    def wait(
        self,
        report_id: str,
        *,
        timeout: float | None = 300.0,
        websocket: bool = False,
        stream: str | None = None,
        fallback: bool = True,
        long_poll: bool = True,
    ) -> Report:
        """Until the report is finished (succeeded, failed, cancelled or expired); `DeadlineExceeded` after
        `timeout` seconds. By long polling (one request that the server holds until the end, again every ~25 s),
        which becomes plain polling with backoff against a server that does not hold requests; by plain polling
        (`long_poll=False`); or following its events (`stream`: "websocket" or "sse"; `websocket=True` is
        "websocket"), resuming after a drop and falling back to polling if the stream cannot be opened."""
        deadline = Deadline(timeout, self.clock)
        stream = stream or ("websocket" if websocket else None)
        if stream is not None:
            return waiting.wait_by_stream(self, report_id, deadline, stream=stream, fallback=fallback)
        if long_poll:
            return waiting.wait_by_long_poll(self, report_id, deadline)
        return waiting.wait_by_polling(self, report_id, deadline)

    def follow_events(
        self, *, stream: str = "sse", report_id: str | None = None, after: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every event of yours (one report's, with `report_id`) after `after`, then live ones, for as long as you
        iterate, resuming after a drop from the last one seen (SPEC §15). `stream`: "sse" or "websocket"."""
        if stream == "websocket":
            return streams.follow_websocket(self, report_id=report_id, after=after)
        return streams.follow_sse(self, report_id=report_id, after=after)

    # --- Files ------------------------------------------------------------------------------------------------------

    def download(self, report_id: str, destination: Path | str | None = None) -> DownloadedFile:
        """Streams the PDF to `destination` (a file, or a folder for the server's file name; default: the current
        folder), checking its sha256 against the report's `file.sha256` on the way.

        Written to a temporary file beside the target and renamed only once the checksum matches, so that a
        partial or corrupted download never sits under the real name."""
        report = self.get_report(report_id)
        expected = (report.get("file") or {}).get("sha256")
        target = Path(destination) if destination is not None else Path.cwd()
        try:
            with self.http.stream("GET", f"{self.report_path(report_id)}/file") as response:
                if response.is_error:
                    response.read()
                    raise ApiError.from_response(response, parse_retry_after(response.headers.get("Retry-After")))
                if target.is_dir():
                    target = target / _attachment_name(response, f"{report_id}.pdf")
                digest, size, partial = hashlib.sha256(), 0, None
                try:
                    with tempfile.NamedTemporaryFile(
                        dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
                    ) as partial:
                        for chunk in response.iter_bytes(CHUNK_BYTES):
                            digest.update(chunk)
                            partial.write(chunk)
                            size += len(chunk)
                    actual = digest.hexdigest()
                    if expected is None:  # it finished between the two requests
                        expected = (self.get_report(report_id).get("file") or {}).get("sha256")
                    if expected is None or actual != expected:
                        raise ChecksumMismatch(expected or "(none)", actual)
                    os.replace(partial.name, target)
                    partial = None
                finally:
                    if partial is not None:
                        Path(partial.name).unlink(missing_ok=True)
        except httpx.TransportError as error:
            raise TransportError(f"GET {self.base_url}{self.report_path(report_id)}/file: {error}") from error
        return DownloadedFile(path=target, sha256=actual, size_bytes=size)


def _attachment_name(response: httpx.Response, default: str) -> str:
    """The file name from Content-Disposition, reduced to a bare name so that it cannot point elsewhere."""
    match = re.search(r'filename="?([^";]+)"?', response.headers.get("Content-Disposition", ""))
    name = os.path.basename(match.group(1)) if match else ""
    return name if name and name not in {".", ".."} else default
