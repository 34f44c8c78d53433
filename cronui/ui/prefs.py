"""UI choices remembered between sessions — the theme, how times are shown, the zone of "local" times and
the order of run lists — in a small JSON file in the user's state folder. A missing or unreadable file
means no choices yet; a file that cannot be written costs only the memory of the choice, never the
session."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from cronui.locations import state_dir


def prefs_path() -> Path:
    return state_dir() / "ui.json"


def load() -> dict[str, Any]:
    try:
        data = json.loads(prefs_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save(**changes: Any) -> None:
    """Remember these choices (written whole, through a temporary file, so a crash never leaves half)."""
    data = {**load(), **changes}
    path = prefs_path()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)


def run_sort() -> tuple[str | None, bool]:
    """The run lists' order chosen last: (column, descending); (None, False) is newest first."""
    data = load()
    key, descending = data.get("run_sort"), data.get("run_sort_descending")
    return (key if isinstance(key, str) else None), descending is True


def save_run_sort(key: str | None, descending: bool) -> None:
    save(run_sort=key, run_sort_descending=descending)
