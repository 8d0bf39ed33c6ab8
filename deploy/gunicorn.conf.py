"""gunicorn's settings for the split layout's plain HTTP (docs/deployment.md, "HTTP on gunicorn"):

    gunicorn -c deploy/gunicorn.conf.py --bind 127.0.0.1:8001 reportsite.wsgi:application_behind_proxy

It runs behind nginx (deploy/nginx-site.conf.template), which buffers request bodies and responses: a worker only
ever talks to the proxy on loopback, so a slow client costs nginx a connection, not a worker. The WebSocket, the
event stream and long polls never come here; they go to daphne. Command-line options win over these
(`--workers 4`, or GUNICORN_CMD_ARGS).
"""

import os


def _cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# One process per core, with two threads each. Measured behind nginx (bench/split_layout.py, docs/deployment.md):
# sync workers and two threads cost the same CPU per request and serve as many requests per second, four threads a
# little more. Threads keep a process serving while a request waits, for the database or for a call out that the
# request makes itself (a webhook endpoint's test ping, up to WEBHOOK_TIMEOUT; an SMS code; a password reset mail),
# where a sync worker, one per core, would hold the whole process. Two, not more: each thread keeps a database
# connection (below). WEB_CONCURRENCY, gunicorn's own variable, sets the number of processes.
workers = int(os.environ.get("WEB_CONCURRENCY") or _cores())
worker_class = "gthread"
threads = 2
# Idle connections from nginx stay open longer than nginx keeps them (its upstream keepalive_timeout, 30 s): nginx
# closes them first, and never sends a request down one that gunicorn is closing.
keepalive = 60

# A worker process whose own loop is silent this long is stuck: gunicorn kills and replaces it. A request that
# waits holds only its thread, however long it takes; the requests made to wait (long polls, streams) are daphne's.
timeout = 30
graceful_timeout = 30
# The heartbeat file on memory rather than disk, where a slow disk could make a busy worker look silent.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - a directory, not a file name

# Each thread keeps its database connection between requests: workers x threads connections per host, a number
# known in advance (daphne runs each request on a thread of its own, so it connects per request instead). For these
# processes only, as the Procfile does for the RQ worker; set before the workers load Django.
os.environ["DATABASE_CONN_MAX_AGE"] = os.environ.get("WSGI_DATABASE_CONN_MAX_AGE", "60")

# nginx logs every request; gunicorn logs its errors (to stderr).
accesslog = None
# No control socket (gunicornc): its default path is one per user, which a second gunicorn of the same user on the
# host would take over. To use it, drop this and give each gunicorn its own --control-socket.
control_socket_disable = True
