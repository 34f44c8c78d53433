"""`cronui apply`, `cronui export`, `cronui import crontab`: jobs as code."""

from __future__ import annotations

from typing import Any


def add_parsers(sub: Any) -> None:
    """Registers the jobs-as-code subcommands (none yet)."""
