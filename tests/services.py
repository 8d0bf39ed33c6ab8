"""The services a test run needs of its own: a private Redis and throwaway folders.

Started from tests/settings.py, that is when pytest-django loads the settings and before anything reads them, so
that REDIS_URL and the folders point at this run's copies. A developer's Redis, database and media are never
touched, and a fresh machine needs nothing running.
"""

import atexit
import os
import tempfile
from pathlib import Path

from scripts.private_redis import PrivateRedis, free_port

ROOT = Path(__file__).resolve().parent.parent


def start_test_services() -> None:
    if os.environ.get("REPORTSITE_TEST_SERVICES_STARTED"):
        return
    run_dir = Path(tempfile.mkdtemp(prefix="reportsite-tests-"))
    redis_server = PrivateRedis(run_dir / "redis", port=free_port()).start()
    atexit.register(redis_server.stop)
    os.environ["REDIS_URL"] = redis_server.url
    os.environ["DJANGO_MEDIA_ROOT"] = str(run_dir / "media")
    os.environ["DJANGO_STATIC_ROOT"] = str(run_dir / "static")
    (run_dir / "static").mkdir()
    os.environ["DJANGO_TEST_SQLITE_NAME"] = str(run_dir / "test.sqlite3")
    os.environ["REPORTSITE_TEST_RUN_DIR"] = str(run_dir)
    os.environ["REPORTSITE_TEST_SERVICES_STARTED"] = "1"
