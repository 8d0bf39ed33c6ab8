"""Settings for the test suite: the project's settings, pointed at this run's private Redis and folders."""

import os
import secrets

from tests.services import start_test_services

start_test_services()
# Development mode, as the suite always ran: the settings default to production (DEBUG off, the HTTPS redirect) and
# would refuse to load without a key. Set in the environment, so that the processes the tests start inherit both.
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))

from reportsite.settings import *  # noqa: E402, F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTHENTICATION_BACKENDS = ["tests.auth_backends.AxesStandaloneBackendForTestClient", *AUTHENTICATION_BACKENDS[1:]]  # noqa: F405
# The suite posts many reports as users whose ids repeat from test to test; the tests of the limit set their own.
REPORT_CREATE_RATE = "10000/min"
# Tests of retries fail many attempts against one receiver on purpose; tests/test_circuit_breakers.py sets its own.
DELIVERY_BREAKER_FAILURES = 100_000

if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    # A test database of this run's own (test_<name>_<run id>), so that two runs on one server never collide.
    _run_id = os.environ["REPORTSITE_TEST_RUN_DIR"].rsplit("-", 1)[-1].lower()
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_run_id}"}  # noqa: F405
