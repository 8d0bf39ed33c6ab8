"""The split layout on this machine (`make up-split`): nginx on one public port in front of gunicorn, which serves
plain HTTP, and daphne, which serves the WebSocket, the event stream and long polls; with a worker and the
scheduler, as `make up` runs them (docs/deployment.md, "HTTP on gunicorn").

It needs nginx (Debian/Ubuntu: `apt-get install nginx`); `make up` and the product do not. nginx runs from a
directory of this checkout (run/split-layout/nginx/) with a config rendered from deploy/nginx-site.conf.template, so
nothing under /etc is read or changed. The same defaults as `make up`: development mode, SQLite, the Redis on
localhost:6379 or a private one, PORT (8000) on WEB_BIND_ADDRESS (127.0.0.1).

The tests and bench/split_layout.py start the same layout with `SplitLayout`, from the same config and commands.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python scripts/split_layout.py`
    sys.path.insert(0, str(ROOT))

from scripts.private_redis import free_port  # noqa: E402

SITE_TEMPLATE = ROOT / "deploy" / "nginx-site.conf.template"
GUNICORN_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
WSGI_APP = "reportsite.wsgi:application_behind_proxy"
ASGI_APP = "reportsite.asgi:application"
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # the settings' REQUEST_MAX_BODY_BYTES
HOST = "127.0.0.1"
RUN_DIR = ROOT / "run" / "split-layout"
TEMPLATE_NAMES = ("LISTEN", "WSGI_SERVER", "ASGI_SERVER", "FORWARDED_PROTO", "MAX_BODY_SIZE")


class NginxMissing(RuntimeError):
    pass


def find_nginx() -> str:
    """nginx's executable, or NginxMissing saying how to install it."""
    for candidate in (shutil.which("nginx"), *NGINX_PATHS):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise NginxMissing(
        "nginx is not installed, and the split layout needs it as its proxy. On Debian or Ubuntu: "
        "`sudo apt-get install nginx` (only the executable is used: its own config and service are left alone). "
        "`make up` runs without it."
    )


def max_body_size(environ: Mapping[str, str]) -> str:
    """nginx's client_max_body_size: twice the app's limit, so that the app answers 413 in its own words for every
    body over its limit, and nginx stops only those far past it."""
    limit = int(environ.get("REQUEST_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
    return str(2 * limit)


def render_site(**values: str) -> str:
    """deploy/nginx-site.conf.template with the ${NAME}s of its directives filled in (its comments are left as they
    are); every one of TEMPLATE_NAMES is required."""
    missing = set(TEMPLATE_NAMES) - set(values)
    if missing:
        raise ValueError(f"render_site needs {', '.join(sorted(missing))}")

    def value(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise ValueError(f"{SITE_TEMPLATE.name} has an unknown placeholder ${{{match.group(1)}}}")
        return values[match.group(1)]

    lines = SITE_TEMPLATE.read_text().splitlines(keepends=True)
    return "".join(line if line.lstrip().startswith("#") else re.sub(r"\$\{([A-Z_]+)\}", value, line) for line in lines)


def write_nginx_prefix(prefix: Path, site: str, *, worker_processes: str = "auto") -> Path:
    """A directory nginx runs from, as whoever runs this: its main config (in the foreground, logs and temp files in
    the directory) including the site. Returns the main config's path."""
    prefix.mkdir(parents=True, exist_ok=True)
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "temp" / temp).mkdir(parents=True, exist_ok=True)
    (prefix / "site.conf").write_text(site)
    # As root, nginx would run its workers as `nobody`, who may not write the temp files here.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    config = prefix / "nginx.conf"
    config.write_text(
        f"{user}"
        "daemon off;\n"
        f"worker_processes {worker_processes};\n"
        f"pid {prefix / 'nginx.pid'};\n"
        "error_log stderr warn;\n"
        # A WebSocket or an event stream still open does not hold up a stop for long.
        "worker_shutdown_timeout 5s;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    log_format split '$remote_addr [$time_local] \"$request\" $status $body_bytes_sent '\n"
        "                     '$request_time $proxy_host $upstream_response_time';\n"
        f"    access_log {prefix / 'access.log'} split buffer=64k flush=1s;\n"
        f"    client_body_temp_path {prefix / 'temp' / 'client_body'};\n"
        f"    proxy_temp_path {prefix / 'temp' / 'proxy'};\n"
        f"    fastcgi_temp_path {prefix / 'temp' / 'fastcgi'};\n"
        f"    uwsgi_temp_path {prefix / 'temp' / 'uwsgi'};\n"
        f"    scgi_temp_path {prefix / 'temp' / 'scgi'};\n"
        f"    include {prefix / 'site.conf'};\n"
        "}\n"
    )
    return config


def nginx_command(nginx: str, prefix: Path) -> list[str]:
    # -e: errors before the config is read go to stderr too, not to /var/log/nginx.
    return [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]


def gunicorn_command(python: str, address: str, *extra: str) -> list[str]:
    return [python, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "--bind", address, *extra, WSGI_APP]


def daphne_command(python: str, host: str, port: int) -> list[str]:
    return [python, "-m", "daphne", "--proxy-headers", "-b", host, "-p", str(port), ASGI_APP]


def descendants(pid: int) -> list[int]:
    """The pid and every process below it (gunicorn's and nginx's workers), from /proc."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        queue.extend(int(child) for child in children)
    return found


class SplitLayout:
    """nginx, gunicorn and daphne on free ports of 127.0.0.1, their configs and logs in `directory`, each process in
    a session of its own. `env` is every process's environment (settings, DATABASE_URL, REDIS_URL, ...)."""

    def __init__(
        self,
        directory: Path,
        env: Mapping[str, str],
        *,
        forwarded_proto: str = "https",
        gunicorn_args: tuple[str, ...] = (),
        python: str = sys.executable,
    ) -> None:
        self.directory = Path(directory)
        self.env = dict(env)
        self.forwarded_proto = forwarded_proto
        self.gunicorn_args = gunicorn_args
        self.python = python
        self.nginx = find_nginx()
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self._logs: list = []

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.ports['nginx']}"

    def server_url(self, name: str) -> str:
        """One server's own address, past the proxy: "gunicorn" or "daphne"."""
        return f"http://{HOST}:{self.ports[name]}"

    def pids(self) -> dict[str, list[int]]:
        """Each server's processes: gunicorn's and nginx's masters with their workers."""
        return {name: descendants(process.pid) for name, process in self.processes.items()}

    def log_text(self, name: str) -> str:
        try:
            return (self.directory / f"{name}.log").read_text(errors="replace")
        except OSError:
            return "(no log)"

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.directory / f"{name}.log").open("wb")
        self._logs.append(log)
        self.processes[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, "PYTHONUNBUFFERED": "1"},  # log lines as they happen
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, timeout: float = 60.0) -> SplitLayout:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ports = {"gunicorn": free_port(), "daphne": free_port(), "nginx": free_port()}
        self._spawn("daphne", daphne_command(self.python, HOST, self.ports["daphne"]))
        self._spawn("gunicorn", gunicorn_command(self.python, f"{HOST}:{self.ports['gunicorn']}", *self.gunicorn_args))
        site = render_site(
            LISTEN=f"{HOST}:{self.ports['nginx']}",
            WSGI_SERVER=f"{HOST}:{self.ports['gunicorn']}",
            ASGI_SERVER=f"{HOST}:{self.ports['daphne']}",
            FORWARDED_PROTO=self.forwarded_proto,
            MAX_BODY_SIZE=max_body_size(self.env),
        )
        prefix = self.directory / "nginx"
        write_nginx_prefix(prefix, site)
        self._spawn("nginx", nginx_command(self.nginx, prefix))
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self, timeout: float) -> None:
        """Each server answers /healthz on its own port, and nginx passes it on to gunicorn."""
        checks = {
            "daphne": (self.server_url("daphne"), None),
            "gunicorn": (self.server_url("gunicorn"), None),
            "nginx": (self.url, "gunicorn"),
        }
        deadline = time.monotonic() + timeout
        for name, (url, served_by) in checks.items():
            while True:
                for process_name, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"{process_name} exited early:\n{self.log_text(process_name)[-4000:]}")
                try:
                    response = httpx.get(f"{url}/healthz", timeout=2)
                    if response.status_code == 200 and response.headers.get("X-Served-By") == served_by:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not answer within {timeout:g}s:\n{self.log_text(name)[-4000:]}")
                time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> None:
        # nginx first (SIGQUIT: it finishes what it is sending), then the servers behind it.
        stop_signals = {"nginx": signal.SIGQUIT, "gunicorn": signal.SIGTERM, "daphne": signal.SIGTERM}
        for name in ("nginx", "gunicorn", "daphne"):
            process = self.processes.get(name)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(stop_signals[name])
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        for log in self._logs:
            log.close()
        self._logs = []


# --- make up-split ------------------------------------------------------------------------------------------------


def procfile_lines(names: tuple[str, ...]) -> list[str]:
    """The Procfile's own lines for these processes (the worker and the scheduler run as `make up` runs them)."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return [line for line in lines if line.split(":", 1)[0].strip() in names]


def split_procfile(port: int, bind_address: str) -> Path:
    """The Procfile `make up-split` runs: nginx on the public port, gunicorn and daphne behind it on free ports of
    127.0.0.1, and the Procfile's own worker and scheduler."""
    from scripts.up import say

    nginx = find_nginx()
    wsgi_port, asgi_port = free_port(), free_port()
    listen = f"[{bind_address}]:{port}" if ":" in bind_address else f"{bind_address}:{port}"
    site = render_site(
        LISTEN=listen,
        WSGI_SERVER=f"{HOST}:{wsgi_port}",
        ASGI_SERVER=f"{HOST}:{asgi_port}",
        FORWARDED_PROTO="$scheme",  # plain HTTP, in development mode
        MAX_BODY_SIZE=max_body_size(os.environ),
    )
    prefix = RUN_DIR / "nginx"
    write_nginx_prefix(prefix, site, worker_processes="1")
    procfile = RUN_DIR / "Procfile"
    procfile.write_text(
        "\n".join(
            [
                f"proxy: exec {shlex.join(nginx_command(nginx, prefix))}",
                f"http: exec {shlex.join(gunicorn_command('python', f'{HOST}:{wsgi_port}'))}",
                f"asgi: exec {shlex.join(daphne_command('python', HOST, asgi_port))}",
                *procfile_lines(("worker", "scheduler")),
            ]
        )
        + "\n"
    )
    say(
        f"split layout: nginx on {listen} in front of gunicorn on {HOST}:{wsgi_port} (plain HTTP) and daphne on "
        f"{HOST}:{asgi_port} (WebSocket, event stream, long polls); nginx's files in {prefix.relative_to(ROOT)}/"
    )
    return procfile


def main() -> int:
    from scripts import up

    try:
        find_nginx()
    except NginxMissing as error:
        raise up.fail(str(error)) from None
    return up.main(procfile_for=split_procfile)


if __name__ == "__main__":
    sys.exit(main())
