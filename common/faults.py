"""Fault injection for the tests of what survives a crash: a process set up with FAULT_POINTS kills itself
(SIGKILL: no cleanup, no atexit, like the OOM killer) when it reaches one of them. Empty unless a test sets it."""

import os
import signal

from django.conf import settings


def fault_point(name: str, detail: str = "") -> None:
    """Die here if FAULT_POINTS names this point ("name" or "name:detail")."""
    points = settings.FAULT_POINTS
    if points and (name in points or f"{name}:{detail}" in points):
        os.kill(os.getpid(), signal.SIGKILL)
