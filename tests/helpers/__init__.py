"""What the tests of every area share: the real district server and fresh databases
(``server``), the environment real commands get (``env``), the district's CLI and the token
it prints (``terminals``), votes as a kiosk sends them (``votes``), and where things are
(``services``). Imported as ``from tests.helpers import …``: ``tests`` is a package and
pytest puts the repository on ``sys.path`` (pyproject.toml), so no test edits ``sys.path``
and no folder borrows another's conftest."""

from tests.helpers.env import clean_env
from tests.helpers.server import (
    DistrictServer,
    PostgresUnavailable,
    free_port,
    fresh_database,
    fresh_engine,
    fresh_pg_database,
)
from tests.helpers.services import BIN, PG_ADMIN_URL, REPO, require
from tests.helpers.terminals import add_terminal, district, printed_token
from tests.helpers.votes import iso, make_vote, utcnow

__all__ = [
    "BIN", "PG_ADMIN_URL", "REPO", "DistrictServer", "PostgresUnavailable", "add_terminal",
    "clean_env", "district", "free_port", "fresh_database", "fresh_engine",
    "fresh_pg_database", "iso", "make_vote", "printed_token", "require", "utcnow",
]
