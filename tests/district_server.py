"""Kept for tests written before tests/helpers/ existed: import from ``tests.helpers``."""

from tests.helpers import *  # noqa: F403
