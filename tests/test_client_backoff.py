"""The client's waiting rules against a scripted HTTP server on 127.0.0.1: the order and number of requests it
makes, and the sleeps it asks for (through an injected sleep and clock, so no test waits and none depends on
timing): full-jitter backoff, `Retry-After` as a floor, the maximum interval, the overall deadline, and retries
that are safe (a 429 on POST, with the same Idempotency-Key) against errors that are not worth retrying."""

import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from client import ApiError, Backoff, DeadlineExceeded, ReportsClient, parse_retry_after

REPORT_PATH = "/api/v1/reports/rep_scripted"


@dataclass
class Answer:
    status: int = 200
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


def report(status: str) -> dict:
    return {"id": "rep_scripted", "status": status, "links": {"events": ""}}


def problem(status: int, title: str, detail: str, **extra) -> dict:
    slug = title.lower().replace(" ", "-")
    return {"type": f"urn:reportsite:problem:{slug}", "title": title, "status": status, "detail": detail, **extra}


class ScriptedServer:
    """Answers each (method, path) from its script in order, repeating the last answer; records every request."""

    def __init__(self) -> None:
        self.scripts: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                server.requests.append((self.command, self.path, dict(self.headers.items())))
                script = server.scripts[(self.command, self.path)]
                answer = script.pop(0) if len(script) > 1 else script[0]
                if answer.drop:
                    self.close_connection = True
                    return
                body = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                content_type = "application/problem+json" if answer.status >= 400 else "application/json"
                for name, value in {"Content-Type": content_type, **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def script(self, method: str, path: str, *answers: Answer) -> None:
        self.scripts[(method, path)] = list(answers)

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


class FakeTime:
    """A clock that only moves when the client sleeps; the sleeps are kept, in order."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class UpperBound(random.Random):
    """Jitter that always draws the top of its range, so that the backoff's ceilings show in the sleeps."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.stop()


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


def make_client(server: ScriptedServer, time_: FakeTime, backoff: Backoff, rng: random.Random | None = None):
    return ReportsClient(
        server.url, "tok", backoff=backoff, sleep=time_.sleep, clock=time_.clock, rng=rng or UpperBound()
    )


def test_retry_after_is_a_floor_and_backoff_applies_without_it(server, time_):
    # Given a report that is queued (Retry-After 3), then overloaded (503, Retry-After 7), then running (no
    # Retry-After), then succeeded
    server.script(
        "GET",
        REPORT_PATH,
        Answer(body=report("queued"), headers={"Retry-After": "3"}),
        Answer(503, problem(503, "Service overloaded", "Try later."), {"Retry-After": "7"}),
        Answer(body=report("running")),
        Answer(body=report("succeeded")),
    )
    client = make_client(server, time_, Backoff(initial=0.5, multiplier=2, maximum=30))

    # When the client waits by polling
    finished = client.wait("rep_scripted", timeout=60)

    # Then it asked four times, in order, and slept at least what the server asked for, else its own ceiling
    assert finished["status"] == "succeeded"
    assert [(method, path) for method, path, _ in server.requests] == [("GET", REPORT_PATH)] * 4
    assert time_.sleeps == [3.0, 7.0, 2.0]  # max(0.5, 3), max(1, 7), then the third ceiling 0.5 * 2**2
    assert all(headers["Authorization"] == "Token tok" for _, _, headers in server.requests)


def test_backoff_grows_to_the_maximum_interval_then_the_deadline_ends_the_wait(server, time_):
    # Given a report that stays queued and a server that gives no Retry-After
    server.script("GET", REPORT_PATH, Answer(body=report("queued")))
    client = make_client(server, time_, Backoff(initial=1, multiplier=2, maximum=4))

    # When the client waits with a 15 s deadline
    with pytest.raises(DeadlineExceeded) as raised:
        client.wait("rep_scripted", timeout=15)

    # Then the gaps doubled up to the 4 s maximum, the last poll came at the deadline, and it then gave up with the
    # last state it saw
    assert time_.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(server.requests) == 6
    assert raised.value.report["status"] == "queued"
    assert str(raised.value) == "report not finished after 15 s (last status: queued)"


def test_a_retry_after_beyond_the_deadline_is_cut_to_one_last_look(server, time_):
    server.script("GET", REPORT_PATH, Answer(body=report("running"), headers={"Retry-After": "60"}))
    client = make_client(server, time_, Backoff())

    with pytest.raises(DeadlineExceeded):
        client.wait("rep_scripted", timeout=10)

    assert time_.sleeps == [10.0]
    assert len(server.requests) == 2


def test_retry_after_as_an_http_date(server, time_):
    when = datetime.now(UTC) + timedelta(seconds=120)
    server.script(
        "GET",
        REPORT_PATH,
        Answer(503, problem(503, "Service overloaded", "Later."), {"Retry-After": format_datetime(when, usegmt=True)}),
        Answer(body=report("succeeded")),
    )
    client = make_client(server, time_, Backoff(initial=0.5, maximum=1))

    client.wait("rep_scripted", timeout=600)

    [slept] = time_.sleeps
    assert 115 <= slept <= 121


def test_jitter_is_full_a_uniform_draw_below_each_ceiling(server, time_):
    # Given a real random generator with a known seed
    server.script("GET", REPORT_PATH, *[Answer(body=report("queued"))] * 6, Answer(body=report("succeeded")))
    backoff = Backoff(initial=0.5, multiplier=2, maximum=4)
    client = make_client(server, time_, backoff, rng=random.Random(7))

    client.wait("rep_scripted", timeout=600)

    # Then each sleep is the seeded draw between 0 and its ceiling: different each time, never above it
    expected_rng = random.Random(7)
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert time_.sleeps == [round(expected_rng.uniform(0, ceiling), 6) for ceiling in ceilings]
    assert all(0 <= slept <= ceiling for slept, ceiling in zip(time_.sleeps, ceilings, strict=True))
    assert len(set(time_.sleeps)) == len(time_.sleeps)


def test_a_dropped_connection_is_waited_out_like_a_503(server, time_):
    server.script("GET", REPORT_PATH, Answer(drop=True), Answer(body=report("succeeded")))
    client = make_client(server, time_, Backoff(initial=0.5, maximum=1))

    assert client.wait("rep_scripted", timeout=60)["status"] == "succeeded"
    assert time_.sleeps == [0.5]
    assert len(server.requests) == 2


def test_an_error_that_will_not_change_is_raised_at_once(server, time_):
    server.script("GET", REPORT_PATH, Answer(404, problem(404, "Not found", "No such resource.")))
    client = make_client(server, time_, Backoff())

    with pytest.raises(ApiError) as raised:
        client.wait("rep_scripted", timeout=60)

    assert (raised.value.status, raised.value.title, raised.value.detail) == (404, "Not found", "No such resource.")
    assert len(server.requests) == 1
    assert time_.sleeps == []


def test_submit_retries_a_429_after_retry_after_with_the_same_idempotency_key(server, time_):
    # Given a rate limit, then room
    server.script(
        "POST",
        "/api/v1/reports",
        Answer(429, problem(429, "Too many requests", "Slow down."), {"Retry-After": "2"}),
        Answer(201, report("queued"), {"Location": REPORT_PATH}),
    )
    client = make_client(server, time_, Backoff())

    created = client.submit("user_access", {"include_inactive": True})

    # Then the POST was sent twice, after the server's wait, with one key: the server can never make two reports
    assert created["status"] == "queued"
    assert time_.sleeps == [2.0]
    keys = [headers["Idempotency-Key"] for _, _, headers in server.requests]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_submit_stops_after_its_attempts(server, time_):
    server.script(
        "POST", "/api/v1/reports", Answer(503, problem(503, "Service overloaded", "Busy."), {"Retry-After": "1"})
    )
    client = make_client(server, time_, Backoff())

    with pytest.raises(ApiError) as raised:
        client.submit("user_access")

    assert raised.value.status == 503
    assert len(server.requests) == client.submit_attempts == 4
    assert time_.sleeps == [1.0, 1.0, 2.0]  # the ceilings 0.5, 1, 2 (upper-bound jitter), each at least 1


def test_a_validation_problem_is_not_retried_and_reads_clearly(server, time_):
    server.script(
        "POST",
        "/api/v1/reports",
        Answer(
            400,
            problem(
                400,
                "Invalid parameters",
                "Some parameters are not valid.",
                errors={"parameters.days": ["Must be at most 366."]},
            ),
        ),
    )
    client = make_client(server, time_, Backoff())

    with pytest.raises(ApiError) as raised:
        client.submit("report_activity", {"days": 1000}, idempotency_key="k-1")

    assert len(server.requests) == 1
    assert server.requests[0][2]["Idempotency-Key"] == "k-1"
    assert raised.value.errors == {"parameters.days": ["Must be at most 366."]}
    assert str(raised.value) == (
        "400 Invalid parameters: Some parameters are not valid.\n  parameters.days: Must be at most 366."
    )


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("", None), ("5", 5.0), (" 12 ", 12.0), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_parse_retry_after(header, seconds):
    assert parse_retry_after(header) == seconds


def test_backoff_refuses_nonsense():
    with pytest.raises(ValueError):
        Backoff(initial=5, maximum=1)
    with pytest.raises(ValueError):
        Backoff(initial=0)


def test_a_long_poll_that_the_server_held_is_sent_again_at_once(server, time_):
    # Given a server that holds each GET (Preference-Applied) and answers queued twice, then succeeded
    held = {"Preference-Applied": "wait=25"}
    server.script(
        "GET",
        REPORT_PATH,
        Answer(body=report("queued"), headers={**held, "Retry-After": "9"}),
        Answer(body=report("running"), headers=held),
        Answer(body=report("succeeded"), headers=held),
    )
    client = make_client(server, time_, Backoff(initial=0.5, multiplier=2, maximum=30))

    finished = client.wait("rep_scripted", timeout=600)

    # Then every request asked to be held, and none was followed by a sleep: the server did the waiting
    assert finished["status"] == "succeeded"
    assert [headers.get("Prefer") for _, _, headers in server.requests] == ["wait=25"] * 3
    assert time_.sleeps == []


def test_a_server_that_does_not_hold_requests_is_polled_with_backoff_and_the_last_wait_fits_the_deadline(server, time_):
    server.script("GET", REPORT_PATH, Answer(body=report("queued")), Answer(body=report("succeeded")))
    client = make_client(server, time_, Backoff(initial=0.5, multiplier=2, maximum=30))

    assert client.wait("rep_scripted", timeout=600)["status"] == "succeeded"
    assert time_.sleeps == [0.5]

    # And with less than 25 s left, a long poll asks only for what is left
    server.requests.clear()
    server.script("GET", REPORT_PATH, Answer(body=report("succeeded")))
    client.wait("rep_scripted", timeout=7.5)
    assert server.requests[0][2]["Prefer"] == "wait=7"


def test_polling_is_still_there_when_asked_for(server, time_):
    server.script("GET", REPORT_PATH, Answer(body=report("queued")), Answer(body=report("succeeded")))
    client = make_client(server, time_, Backoff(initial=0.5, multiplier=2, maximum=30))

    client.wait("rep_scripted", timeout=600, long_poll=False)

    assert "Prefer" not in server.requests[0][2]
