from __future__ import annotations

import pytest

from kiosk.config import KioskConfig
from kiosk.store import VoteStore


def build_config(tmp_path, **sections) -> KioskConfig:
    """A validated config with a store in tmp_path; keyword args are TOML sections."""
    data = {"storage": {"path": str(tmp_path / "votes.db")},
            "gpio": {"pin_factory": "mock"}, "terminal": {"id": "t-test"}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return KioskConfig.model_validate(data)


@pytest.fixture
def make_config(tmp_path):
    """``make_config(rules={"lockout_s": 0})``: a config with a store in tmp_path."""
    return lambda **sections: build_config(tmp_path, **sections)


@pytest.fixture
def config(make_config):
    return make_config()


@pytest.fixture
def store(config):
    with VoteStore(config.storage.path, config.terminal.id) as s:
        yield s
