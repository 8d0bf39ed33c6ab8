"""Real HTTP receivers on 127.0.0.1 for the webhook tests: each records what it got and answers as scripted."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    at: float


@dataclass
class Receiver:
    # Each answer: (status, headers, body) or "hang" (hold the connection open without answering).
    answers: list = field(default_factory=lambda: [(200, {}, "ok")])
    received: list[Received] = field(default_factory=list)
    url: str = ""
    release: threading.Event = field(default_factory=threading.Event)

    def next_answer(self):
        index = min(len(self.received) - 1, len(self.answers) - 1)
        return self.answers[index]


@contextmanager
def receiver(*answers) -> Iterator[Receiver]:
    state = Receiver(answers=list(answers) or [(200, {}, "ok")])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode()
            state.received.append(Received(dict(self.headers.items()), body, time.monotonic()))
            answer = state.next_answer()
            if answer == "hang":
                state.release.wait(30)
                return
            status, headers, text = answer
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(text.encode())))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
