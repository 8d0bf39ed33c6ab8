"""Safe defaults (SPEC §19): with nothing set, the settings are production's and refuse to load without a secret key;
development mode is something `make up` and the test settings turn on explicitly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import up
from tests.conftest import ROOT

PUBLIC_DEVELOPMENT_KEY = "django-insecure-development-only-key-do-not-use-in-production"
SHOW_SETTINGS = """
import json
from django.conf import settings
from common.netsafety import UnsafeDestination, resolve_destination
try:
    resolve_destination("http://127.0.0.1:8000/hooks")
    loopback = "allowed"
except UnsafeDestination:
    loopback = "refused"
print(json.dumps({"DEBUG": settings.DEBUG, "networks": settings.WEBHOOK_ALLOWED_NETWORKS, "loopback": loopback}))
"""


def clean_env(**variables: str) -> dict[str, str]:
    """The caller's environment without anything that configures the project: what a fresh shell has."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "WEBHOOK_", "REPORTSITE_", "WEB_BIND"))
        and key not in {"DATABASE_URL", "REDIS_URL", "PYTHONPATH"}
    }
    env.update(variables)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_with_no_environment_the_settings_refuse_to_load_and_name_the_secret_key():
    # When any command loads the settings in a shell where nothing is set
    for command in (["check"], ["check", "--deploy"]):
        result = manage(*command, env=clean_env())

        # Then it stops, saying what a deployer must set, and nothing else
        assert result.returncode == 1, result.stdout + result.stderr
        assert "ImproperlyConfigured: DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off." in result.stderr
        assert "System check" not in result.stdout + result.stderr


def test_with_only_a_secret_key_debug_is_off_loopback_is_refused_and_the_deploy_checks_pass():
    env = clean_env(DJANGO_SECRET_KEY="k" * 20 + "-a-long-and-random-enough-value-for-the-checks-0123456789")

    shown = manage("shell", "-v", "0", "-c", SHOW_SETTINGS, env=env)
    deploy = manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"DEBUG": False, "networks": [], "loopback": "refused"}
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "System check identified no issues (3 silenced)." in deploy.stdout  # see reportsite/checks.py


def test_make_up_turns_development_mode_on_with_a_key_of_its_own_and_binds_loopback(tmp_path: Path):
    # When `make up` prepares its environment in a shell where nothing is set
    added = up.development_environment({}, run_dir=tmp_path)

    # Then it is development mode, with a random key kept for the next run, and the server on loopback only
    assert added["DJANGO_DEBUG"] == "1"
    assert added["WEB_BIND_ADDRESS"] == "127.0.0.1"
    key = added["DJANGO_SECRET_KEY"]
    assert len(key) >= 50 and key != PUBLIC_DEVELOPMENT_KEY
    assert up.development_environment({}, run_dir=tmp_path)["DJANGO_SECRET_KEY"] == key
    assert (tmp_path / "dev-secret-key").stat().st_mode & 0o077 == 0
    # And the settings load with it: webhooks may reach a receiver on this machine, as in development before
    shown = manage("shell", "-v", "0", "-c", SHOW_SETTINGS, env=clean_env(**added))
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"DEBUG": True, "networks": ["127.0.0.0/8", "::1/128"], "loopback": "allowed"}


def test_make_up_keeps_what_the_caller_set(tmp_path: Path):
    caller = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "mine", "WEB_BIND_ADDRESS": "192.0.2.10"}

    assert up.development_environment(caller, run_dir=tmp_path) == caller
    assert not (tmp_path / "dev-secret-key").exists()


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what the Procfile is expected to say


@pytest.mark.parametrize(
    ("variables", "expected"), [({}, ALL_INTERFACES), ({"WEB_BIND_ADDRESS": "127.0.0.1"}, "127.0.0.1")]
)
def test_the_procfiles_web_binds_where_web_bind_address_says(variables: dict[str, str], expected: str):
    # The Procfile serves deployments (all interfaces behind a load balancer); `make up` sets the variable
    [web] = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")]
    command = web.removeprefix("web:").replace("exec ", "echo ", 1)

    result = subprocess.run(
        ["/bin/sh", "-c", command], env={"PATH": os.environ["PATH"], **variables}, capture_output=True, text=True
    )

    assert result.stdout.split()[:3] == ["daphne", "--bind", expected]
