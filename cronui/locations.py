"""Where cronui keeps its files: config, database, user themes and the UI's remembered choices (per OS, via
platformdirs)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_config_path, user_data_path, user_state_path

APP = "cronui"


def config_dir() -> Path:
    return user_config_path(APP, appauthor=False)


def data_dir() -> Path:
    return user_data_path(APP, appauthor=False)


def state_dir() -> Path:
    """What the UI remembers between sessions (its choices), apart from config and data."""
    return user_state_path(APP, appauthor=False)


def default_config_file() -> Path:
    return config_dir() / "config.toml"


def default_db_path() -> Path:
    return data_dir() / "cronui.db"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def expand(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(str(path))))
