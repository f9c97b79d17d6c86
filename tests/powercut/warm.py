"""Imported once by the forkserver (``workers.PRELOAD``), never by a test: what every
restarted writer would otherwise do again after each cut (the modules the commands import
lazily, Alembic, SQLAlchemy's URL pattern)."""

import tempfile
from pathlib import Path

import district.cli
import kiosk.cli
from district.db import open_engine

district.cli.build_parser(str)  # the verbs' modules (dashboard, provision, setup, backup…)
kiosk.cli.build_parser(str)
with tempfile.TemporaryDirectory() as _folder:
    open_engine(f"sqlite:///{Path(_folder) / 'warm.db'}").dispose()  # Alembic, migrations
