"""The client follows the event stream (SPEC §15) through a real daphne and resumes after the network cuts its
connection: every event once, in order, over Server-Sent Events and over the WebSocket; `wait --stream` and
`events --follow` from the command line."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

import pytest
from rest_framework.authtoken.models import Token

from client import ReportsClient
from events.log import event_record
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


class CuttableProxy:
    """A TCP forwarder on 127.0.0.1 in front of daphne; `cut()` drops every connection through it, as a flaky
    network would, and new ones go through again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.running = True
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while self.running:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            cut, self.sockets = self.sockets, []
        for end in cut:
            try:
                end.shutdown(socket.SHUT_RDWR)
                end.close()
            except OSError:
                pass

    def close(self) -> None:
        self.running = False
        self.acceptor.join(5)  # it notices within its accept timeout; the listener is closed after it stopped
        self.cut()
        self.listener.close()


@contextmanager
def proxy_to(url: str) -> Iterator[CuttableProxy]:
    proxy = CuttableProxy(urlsplit(url).port)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def ada(make_user):
    return make_user("ada", perms=("auth.view_user",))


def _note(user, number: int) -> str:
    return event_record(user_id=user.pk, event_type="ping", data={"n": number}).id


def _follow_across_a_cut(live_server_url: str, user, stream: str) -> tuple[list[str], list[dict]]:
    token = Token.objects.get_or_create(user=user)[0].key
    written = [_note(user, number) for number in range(4)]
    with proxy_to(live_server_url) as proxy:
        client = ReportsClient(f"http://127.0.0.1:{proxy.port}", token, sleep=lambda seconds: time.sleep(0.05))
        events = client.follow_events(stream=stream, after=written[0])
        received = [next(events) for _ in range(3)]
        # The network drops the connection; meanwhile more events happen
        proxy.cut()
        written += [_note(user, number) for number in range(4, 8)]
        received += [next(events) for _ in range(4)]
        events.close()
        client.close()
    return written[1:], received


@pytest.mark.parametrize("stream", ["sse", "websocket"])
def test_a_followed_stream_resumes_after_the_network_cuts_it(live_server_url, ada, stream):
    expected, received = _follow_across_a_cut(live_server_url, ada, stream)

    assert [event["id"] for event in received] == expected
    assert [event["data"]["n"] for event in received] == list(range(1, 8))


def _cli(url: str, token: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "client", "--url", url, "--token", token, *args]


def test_cli_events_follow_prints_json_lines_and_wait_stream_sse_finishes(live_server_url, ada, rq_worker):
    token = Token.objects.get_or_create(user=ada)[0].key
    first = _note(ada, 0)
    env = {**os.environ}
    follower = subprocess.Popen(
        _cli(live_server_url, token, "events", "--follow", "--after", first),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        second = _note(ada, 1)
        submitted = subprocess.run(
            _cli(live_server_url, token, "submit", "user_access", "-q"),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        report_id = submitted.stdout.strip()
        waited = subprocess.run(
            _cli(live_server_url, token, "wait", report_id, "--stream", "sse", "--timeout", "60"),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        lines = [json.loads(follower.stdout.readline()) for _ in range(2)]
    finally:
        follower.terminate()
        follower.wait(10)

    assert [event["id"] for event in lines] == [second, lines[1]["id"]]
    assert lines[1]["type"] == "report.queued"
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["status"] == "succeeded"
