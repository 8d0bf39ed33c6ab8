"""`python -m client`: the client from a shell. JSON results on stdout, messages on stderr, and an exit code a
script can branch on (listed in `EXIT_CODES`, documented in docs/client.md)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from client.api import ReportsClient
from client.backoff import Backoff
from client.errors import ApiError, ChecksumMismatch, ClientError, DeadlineExceeded, SignatureInvalid
from client.webhooks import DEFAULT_TOLERANCE, WebhookReceiver, verify_webhook

OK = 0
ERROR = 1  # the API refused, or the server could not be reached
USAGE = 2  # argparse's own code for bad arguments
DEADLINE = 3  # `wait`: not finished by the deadline
NOT_SUCCEEDED = 4  # `wait`: finished, but failed, cancelled or expired
VERIFICATION_FAILED = 5  # `download`: sha256 mismatch; `verify-webhook`: bad signature
EXIT_CODES = {
    OK: "success",
    ERROR: "API error or unreachable server",
    USAGE: "bad arguments",
    DEADLINE: "deadline exceeded",
    NOT_SUCCEEDED: "report failed, cancelled or expired",
    VERIFICATION_FAILED: "checksum or signature verification failed",
}


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"include_inactive\": true}'")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("headers are 'Name: value'")
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m client",
        description="Request PDF reports, wait for them, download them, and verify webhooks.",
        epilog="exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()),
    )
    parser.add_argument("--url", default=os.environ.get("REPORTS_URL", "http://127.0.0.1:8000"),
                        help="the site (env REPORTS_URL; default http://127.0.0.1:8000)")  # fmt: skip
    parser.add_argument("--token", default=os.environ.get("REPORTS_TOKEN", ""),
                        help="API token (env REPORTS_TOKEN)")  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="log each retry and fallback")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    submit = commands.add_parser("submit", help="request a report; prints it as JSON")
    submit.add_argument("report_type", help="e.g. user_access (GET /api/v1/report-types lists yours)")
    submit.add_argument("parameters", nargs="?", type=_json_object, default={}, help="JSON object (default {})")
    submit.add_argument("--idempotency-key", help="repeat a submit safely (default: a fresh UUID per call)")
    submit.add_argument("--callback-url", help="receives this report's terminal event, signed")
    submit.add_argument("--notify-email", action=argparse.BooleanOptionalAction, help="override your preference")
    submit.add_argument("--notify-sms", action=argparse.BooleanOptionalAction, help="override your preference")
    submit.add_argument("-q", "--quiet", action="store_true", help="print only the report's id")

    get = commands.add_parser("get", help="print a report as JSON")
    get.add_argument("report_id")

    wait = commands.add_parser("wait", help="wait until a report is finished; prints it as JSON")
    wait.add_argument("report_id")
    wait.add_argument(
        "--stream",
        choices=["websocket", "sse"],
        help="follow its events (resuming after a drop) instead of polling; polls if the stream cannot be opened",
    )
    wait.add_argument("--websocket", action="store_true", help="the same as --stream websocket")
    wait.add_argument(
        "--poll", action="store_true", help="poll with backoff instead of long polling (one request held until the end)"
    )
    wait.add_argument("--timeout", type=float, default=300.0, help="overall deadline in seconds (default 300)")
    wait.add_argument("--initial-interval", type=float, default=0.5, help="first backoff ceiling, s (0.5)")
    wait.add_argument("--max-interval", type=float, default=30.0, help="longest gap between polls, s (30)")

    events = commands.add_parser("events", help="print your events as JSON lines (like `stripe listen`)")
    events.add_argument("--follow", "-f", action="store_true", help="keep following live events, resuming on drop")
    events.add_argument("--after", help="start after this event id (default: the newest page, or now with -f)")
    events.add_argument("--report", help="only this report's events")
    events.add_argument("--stream", choices=["sse", "websocket"], default="sse", help="how to follow (default sse)")

    download = commands.add_parser("download", help="save a report's PDF, checking its sha256")
    download.add_argument("report_id")
    download.add_argument("-o", "--output", type=Path, help="file or folder (default: current folder)")

    verify = commands.add_parser("verify-webhook", help="check a delivery's signature; prints its event")
    verify.add_argument("--secret", action="append", required=True, help="whsec_... (repeat during a rotation)")
    verify.add_argument("--header", "-H", action="append", type=_header, default=[], help="'webhook-id: msg_...'")
    verify.add_argument("--body", type=Path, required=True, help="the body as received, or - for stdin")
    verify.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, help="max age in seconds (300)")

    listen = commands.add_parser("listen", help="receive webhooks, verify them, print each event as a JSON line")
    listen.add_argument("--secret", action="append", required=True, help="whsec_... (repeat during a rotation)")
    listen.add_argument("--host", default="127.0.0.1")
    listen.add_argument("--port", type=int, default=9000)
    listen.add_argument("--count", type=int, default=0, help="exit after this many events (default: never)")
    return parser


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))  # noqa: T201 - the CLI's output


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)  # noqa: T201 - the CLI's output


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        if args.command == "verify-webhook":
            return _verify(args)
        if args.command == "listen":
            return _listen(args)
        if not args.token:
            _error("an API token is needed: --token or REPORTS_TOKEN")
            return USAGE
        backoff = Backoff(initial=args.initial_interval, maximum=args.max_interval) if args.command == "wait" else None
        with ReportsClient(args.url, args.token, backoff=backoff) as client:
            return _call(client, args)
    except DeadlineExceeded as error:
        _error(str(error))
        if error.report is not None:
            _print(error.report)
        return DEADLINE
    except (ChecksumMismatch, SignatureInvalid) as error:
        _error(str(error))
        return VERIFICATION_FAILED
    except ApiError as error:
        _error(str(error))
        return ERROR
    except (ClientError, ValueError, OSError) as error:
        _error(str(error) or type(error).__name__)
        return ERROR


def _call(client: ReportsClient, args: argparse.Namespace) -> int:
    if args.command == "submit":
        notify = {name: value for name, value in (("email", args.notify_email), ("sms", args.notify_sms))}
        report = client.submit(
            args.report_type,
            args.parameters,
            callback_url=args.callback_url,
            notify={name: value for name, value in notify.items() if value is not None},
            idempotency_key=args.idempotency_key,
        )
        if args.quiet:
            print(report["id"])  # noqa: T201 - the CLI's output
        else:
            _print(report)
        return OK
    if args.command == "get":
        _print(client.get_report(args.report_id))
        return OK
    if args.command == "events":
        return _events(client, args)
    if args.command == "wait":
        stream = args.stream or ("websocket" if args.websocket else None)
        report = client.wait(args.report_id, timeout=args.timeout, stream=stream, long_poll=not args.poll)
        _print(report)
        if report["status"] != "succeeded":
            _error(f"report {report['id']} is {report['status']}" + _reason(report))
            return NOT_SUCCEEDED
        return OK
    downloaded = client.download(args.report_id, args.output)
    print(f"{downloaded.path}\t{downloaded.size_bytes} bytes\tsha256 {downloaded.sha256} (verified)")  # noqa: T201
    return OK


def _events(client: ReportsClient, args: argparse.Namespace) -> int:
    """One JSON line per event, flushed at once so that a pipe (`| jq`) sees each as it comes."""
    if args.follow:
        try:
            for event in client.follow_events(stream=args.stream, report_id=args.report, after=args.after):
                print(json.dumps(event, sort_keys=True), flush=True)  # noqa: T201 - the CLI's output
        except KeyboardInterrupt:  # Ctrl-C is how a follow ends
            pass
        return OK
    params = {key: value for key, value in (("after", args.after), ("report", args.report)) if value}
    for event in client.request("GET", "/api/v1/events", params=params).json()["results"]:
        print(json.dumps(event, sort_keys=True), flush=True)  # noqa: T201 - the CLI's output
    return OK


def _reason(report: dict[str, Any]) -> str:
    error = report.get("error") or {}
    return f": {error.get('code')}: {error.get('message')}" if error else ""


def _verify(args: argparse.Namespace) -> int:
    body = sys.stdin.buffer.read() if str(args.body) == "-" else args.body.read_bytes()
    _print(verify_webhook(args.secret, dict(args.header), body, tolerance=args.tolerance))
    return OK


def _listen(args: argparse.Namespace) -> int:
    received = 0

    def on_event(event: dict[str, Any]) -> None:
        nonlocal received
        print(json.dumps(event, sort_keys=True), flush=True)  # noqa: T201 - the CLI's output
        received += 1
        if args.count and received >= args.count:
            # Handlers run on their own threads, so this may wait for serve_forever to return; server_close()
            # then waits for this handler to answer.
            receiver.server.shutdown()

    receiver = WebhookReceiver(
        args.secret, on_event, host=args.host, port=args.port, on_rejected=lambda why: _error(f"rejected: {why}")
    )
    print(f"listening on {receiver.url} (verified events are printed, one JSON per line)", file=sys.stderr)  # noqa: T201
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.server.server_close()
    return OK
