"""Settings for worker and server processes the tests start: the project's, plus the test-only report types."""

from reportsite.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the same fast hasher as the test process
