"""The worker's parent process warms up before forking; a warm-up that broke would only show as slow jobs."""

import gc

import pytest

from reports.worker import preload


@pytest.mark.django_db(transaction=True)
def test_preload_warms_up_without_errors_and_freezes_the_heap():
    # When the worker's parent warms up
    preload()

    # Then it got through every step (an exception would propagate here) and froze what it loaded
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
