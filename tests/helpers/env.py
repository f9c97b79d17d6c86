"""The environment a test gives the real commands it runs."""

from __future__ import annotations

import os

# The prefixes of the settings a developer's own shell may carry (kiosk.toml and district
# settings as environment variables): a test never inherits them.
OWN_SETTINGS = ("DISTRICT_", "KIOSK_")


def clean_env(*also_drop: str, **extra: str) -> dict[str, str]:
    """This process's environment without ``DISTRICT_*`` / ``KIOSK_*`` (and any prefix in
    ``also_drop``, e.g. ``"KIVY_"``), plus ``extra``."""
    drop = OWN_SETTINGS + also_drop
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, **extra}
