"""Fixtures for ``district setup`` and HTTPS: a district set up for real in tmp_path
(tests/helpers/district_setup.py, shared with tests/trust)."""

from tests.helpers.district_setup import (  # noqa: F401 (fixtures and names the tests use)
    HOST,
    District,
    district_root,
    installed,
    serving,
)
