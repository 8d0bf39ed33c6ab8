from django.apps import AppConfig


class TestAppConfig(AppConfig):
    """Report types that exist only for the tests; installed in the test process and in its worker processes."""

    name = "tests.testapp"
    label = "testapp"
