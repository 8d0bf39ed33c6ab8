"""Bring the whole development system up with one command (`make up`).

Order matters: Redis first (migrations are harmless without it, but demo_setup,
the workers and the scheduler need it), then the database, static files and
demo data, then web + worker + scheduler from the Procfile under honcho.
Ctrl-C or SIGTERM stops everything in reverse order and exits 0.

Development mode is turned on here, not by the settings' defaults (which are production's): DJANGO_DEBUG=1, a secret
key of this checkout's own (kept in run/dev-secret-key), and the web server on 127.0.0.1 only. Variables already
set win, e.g. `WEB_BIND_ADDRESS=0.0.0.0 make up` to be reached from other machines (add the name they use to
DJANGO_ALLOWED_HOSTS).

Run it with the virtualenv's python (`make up` does); it chdirs to the repo root.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

try:
    from scripts.private_redis import (
        PrivateRedis,
        free_port,
        port_is_free,
        redis_answers,
        stop_stale_server,
    )
except ImportError:  # run as `python scripts/up.py`: scripts/ is on sys.path
    from private_redis import (  # type: ignore[no-redef]
        PrivateRedis,
        free_port,
        port_is_free,
        redis_answers,
        stop_stale_server,
    )

ROOT = Path(__file__).resolve().parent.parent
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
PRIVATE_REDIS_PORT = 6390
RUN_DIR = ROOT / "run"
PRIVATE_REDIS_DIR = RUN_DIR / "redis"
DEFAULT_BIND_ADDRESS = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent  # not resolved: keep the venv's bin/
STOP_GRACE = 30.0  # honcho itself SIGKILLs its children 5 s after SIGTERM
WEB_WAIT = 60.0


class Stopping(Exception):
    """Raised by the signal handler to abort the setup steps."""


def say(message: str) -> None:
    print(f"up: {message}", flush=True)


def fail(message: str) -> SystemExit:
    return SystemExit(f"up: error: {message}")


def redacted(url: str) -> str:
    """The URL without its password, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def development_secret_key(run_dir: Path) -> str:
    """A random key made on the first run and kept, so that sessions outlive a restart; never a key in the code."""
    path = run_dir / "dev-secret-key"
    if path.exists():
        return path.read_text().strip()
    run_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(key + "\n")
    return key


def development_environment(environ: Mapping[str, str], run_dir: Path = RUN_DIR) -> dict[str, str]:
    """The variables `make up` runs every process with: development mode (in which the settings also let webhooks
    reach receivers on loopback), its key, and the web server's address. What the caller set is kept."""
    return {
        "DJANGO_DEBUG": environ.get("DJANGO_DEBUG") or "1",
        "DJANGO_SECRET_KEY": environ.get("DJANGO_SECRET_KEY") or development_secret_key(run_dir),
        "WEB_BIND_ADDRESS": environ.get("WEB_BIND_ADDRESS") or DEFAULT_BIND_ADDRESS,
    }


def choose_redis(
    env_url: str | None,
    local_url: str | None = None,
    run_dir: Path | None = None,
) -> tuple[str, PrivateRedis | None]:
    """Pick the Redis to use: $REDIS_URL if set, else a local one on 6379 if it
    answers, else a private redis-server that we start (and must stop).
    Returns (url, server-we-started-or-None)."""
    local_url = local_url or LOCAL_REDIS_URL
    run_dir = run_dir or PRIVATE_REDIS_DIR
    if env_url:
        if not redis_answers(env_url, timeout=2.0):
            raise fail(f"REDIS_URL={redacted(env_url)} does not answer PING")
        say(f"Redis: {redacted(env_url)} (from REDIS_URL)")
        return env_url, None
    if redis_answers(local_url):
        say(f"Redis: {local_url} (already running locally)")
        return local_url, None
    stale = stop_stale_server(run_dir)
    if stale is not None:
        say(f"stopped a private Redis left over from an earlier run (pid {stale})")
    port = PRIVATE_REDIS_PORT if port_is_free(PRIVATE_REDIS_PORT) else free_port()
    server = PrivateRedis(run_dir, port=port)
    say(f"no Redis on {local_url}: starting a private one on port {port}")
    try:
        server.start()
    except RuntimeError as error:
        raise fail(str(error)) from None
    except BaseException:  # e.g. Ctrl-C while it starts: don't leave it behind
        server.stop()
        raise
    rel = run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir
    say(f"Redis: {server.url} (private, pid {server.process.pid}, files in {rel}/)")
    return server.url, server


def manage(*args: str) -> None:
    """Run a manage.py command in the foreground; stop everything if it fails."""
    say(f"manage.py {' '.join(args)}")
    result = subprocess.run([sys.executable, "manage.py", *args], check=False)
    if result.returncode != 0:
        raise fail(f"manage.py {args[0]} failed (exit code {result.returncode})")


def local_host(bind_address: str) -> str:
    """Where this machine reaches a server bound to `bind_address`."""
    return "127.0.0.1" if bind_address in ("0.0.0.0", "::") else bind_address  # noqa: S104 - compared, not bound


def port_answers(port: int, bind_address: str) -> bool:
    try:
        with socket.create_connection((local_host(bind_address), port), timeout=0.5):
            return True
    except OSError:
        return False


def print_urls(port: int, redis_url: str, bind_address: str) -> None:
    host = local_host(bind_address)
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    print(
        "\n"
        f"  App:        {base}/\n"
        f"  Admin:      {base}/admin/\n"
        f"  API docs:   {base}/api/docs\n"
        f"  Job queues: {base}/django-rq/\n"
        f"  Redis:      {redacted(redis_url)}\n"
        "\n"
        "  Press Ctrl-C to stop everything.\n",
        flush=True,
    )


class Supervisor:
    """Owns the child processes and turns SIGINT/SIGTERM/SIGHUP into an orderly
    stop: honcho (and through it web, worker, scheduler) first, Redis last."""

    def __init__(self) -> None:
        self.honcho: subprocess.Popen[bytes] | None = None
        self.stop_signal: int | None = None
        self.cleaning_up = False

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.on_signal)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            say(f"{signal.Signals(signum).name} received, stopping ...")
        self.stop_signal = signum
        if self.honcho is None and not self.cleaning_up:
            raise Stopping  # abort the current setup step (subprocess.run kills it)
        # With honcho running, run_honcho() notices stop_signal and stops it.

    def run_honcho(self, port: int, redis_url: str, bind_address: str, procfile: Path = ROOT / "Procfile") -> int:
        """Run the Procfile until it stops; return our exit code."""
        self.honcho = subprocess.Popen(
            [VENV_BIN / "honcho", "start", "-f", procfile, "-d", ROOT],
            stdin=subprocess.DEVNULL,
        )
        announced = False
        web_deadline = time.monotonic() + WEB_WAIT
        stop_at: float | None = None
        forwarded = False
        while True:
            try:
                code = self.honcho.wait(timeout=0.25)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if self.stop_signal is not None:
                if stop_at is None:
                    stop_at = now
                # Ctrl-C in a terminal reaches honcho too (same process group)
                # and it is already stopping: give it a second before our
                # SIGTERM, which `kill -INT <this pid>` or SIGTERM still need.
                delay = 1.0 if self.stop_signal == signal.SIGINT else 0.0
                if not forwarded and now >= stop_at + delay:
                    forwarded = True
                    self.honcho.send_signal(signal.SIGTERM)
                if now > stop_at + STOP_GRACE:
                    say(f"honcho did not stop in {STOP_GRACE:g}s, killing it")
                    self.honcho.kill()
            elif not announced and (port_answers(port, bind_address) or time.monotonic() > web_deadline):
                announced = True
                print_urls(port, redis_url, bind_address)
        if self.stop_signal is not None:
            return 0  # we asked it to stop: a clean stop
        say(f"a process stopped on its own, so honcho stopped all (exit code {code})")
        return code or 1

    def stop_honcho(self) -> None:
        honcho = self.honcho
        if honcho is not None and honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)
            try:
                honcho.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                honcho.kill()
                honcho.wait()


def main(procfile_for: Callable[[int, str], Path] | None = None) -> int:
    """`procfile_for(port, bind_address)`: the Procfile to run instead of the project's, made once the environment
    is set (scripts/split_layout.py's)."""
    os.chdir(ROOT)
    if not (VENV_BIN / "honcho").exists():
        raise fail(f"{VENV_BIN / 'honcho'} not found: run this through `make up`")

    port_text = os.environ.get("PORT") or "8000"
    if not port_text.isdigit():
        raise fail(f"PORT must be a number, not {port_text!r}")
    port = int(port_text)
    # Children (manage.py, honcho, daphne, rq) inherit this environment.
    os.environ.update(development_environment(os.environ))
    bind_address = os.environ["WEB_BIND_ADDRESS"]
    if not port_is_free(port, host=bind_address):
        raise fail(f"port {port} is already in use on {bind_address} (set PORT=... to use another)")
    say(f"development mode (DJANGO_DEBUG={os.environ['DJANGO_DEBUG']}), web server on {bind_address}:{port}")
    os.environ["PORT"] = str(port)
    os.environ["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    os.environ["PYTHONUNBUFFERED"] = "1"  # log lines appear as they happen
    procfile = procfile_for(port, bind_address) if procfile_for else ROOT / "Procfile"

    supervisor = Supervisor()
    supervisor.install()
    server: PrivateRedis | None = None
    try:
        redis_url, server = choose_redis(os.environ.get("REDIS_URL"))
        os.environ["REDIS_URL"] = redis_url
        manage("migrate", "--noinput")
        manage("collectstatic", "--noinput", "-v0")
        manage("demo_setup")
        return supervisor.run_honcho(port, redis_url, bind_address, procfile)
    except Stopping:
        return 0
    finally:
        supervisor.cleaning_up = True
        supervisor.stop_honcho()
        if server is not None:
            if not server.wait_for_clients_to_leave(timeout=10.0):
                say("some Redis clients are still connected after 10s")
            say("stopping the private Redis")
            server.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
