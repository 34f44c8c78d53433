"""Theme files: the ones shipped with cronui and the user's own, parsed into Textual `Theme`s.

A theme file is TOML: the colour keys of Textual's `Theme` at the top level and extra CSS variables under
`[variables]`, among them the run-status colours `run-succeeded`, `run-failed`, `run-running`,
`run-skipped`. A file that cannot be used is reported (the caller shows one toast) and skipped; it never
stops the app. The shipped `cronui-dark` also exists in code, so the default theme works even where the
theme files were not installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

import cronui
from cronui import locations
from cronui.config import read_toml

STATUS_VARIABLES: dict[str, str] = {
    "run-succeeded": "#3fb950",
    "run-failed": "#f85149",
    "run-running": "#58a6ff",
    "run-skipped": "#8b949e",
}
"""Defaults for themes that do not set the run-status colours (Textual's built-in themes)."""

_COLOR_KEYS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_OTHER_KEYS = {"name", "dark", "luminosity_spread", "text_alpha", "variables"}

FALLBACK = Theme(
    name="cronui-dark",
    primary="#58a6ff",
    secondary="#1f6feb",
    accent="#d29922",
    warning="#d29922",
    error="#f85149",
    success="#3fb950",
    foreground="#c9d1d9",
    background="#0d1117",
    surface="#161b22",
    panel="#21262d",
    dark=True,
    variables=dict(STATUS_VARIABLES),
)


@dataclass
class Loaded:
    themes: list[Theme] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file: reason", one per skipped file


def shipped_theme_dirs() -> list[Path]:
    """Where the shipped theme files are: inside the package when installed, `themes/` in a checkout."""
    pkg = Path(cronui.__file__).resolve().parent
    return [d for d in (pkg / "themes", pkg / "ui" / "themes", pkg.parent / "themes") if d.is_dir()]


def theme_from_mapping(data: dict[str, Any], source: str) -> Theme:
    """Build a Theme from a parsed file; raises ValueError naming the first problem."""
    unknown = sorted(set(data) - set(_COLOR_KEYS) - _OTHER_KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("`name` is missing")
    if "primary" not in data:
        raise ValueError("`primary` is missing")
    kw: dict[str, Any] = {}
    for key in _COLOR_KEYS:
        if key in data:
            kw[key] = _color(data[key], key)
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ValueError("`variables` must be a table")
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ValueError(f"variables.{key}: expected a string")
        if key in STATUS_VARIABLES:
            _color(value, f"variables.{key}")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ValueError("`dark` must be true or false")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            if not isinstance(data[key], int | float) or isinstance(data[key], bool):
                raise ValueError(f"`{key}` must be a number")
            kw[key] = float(data[key])
    return Theme(name=name.strip(), dark=dark, variables={**STATUS_VARIABLES, **variables}, **kw)


def _color(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f'{key}: expected a colour string such as "#58a6ff"')
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"{key}: {value!r} is not a colour") from None
    return value


def load_theme_file(path: Path) -> Theme:
    return theme_from_mapping(read_toml(path), str(path))


def load_themes(extra_dirs: list[Path] | None = None) -> Loaded:
    """Shipped themes, then the user's (a user theme with a shipped name replaces it)."""
    out = Loaded()
    dirs = [*shipped_theme_dirs(), locations.user_themes_dir(), *(extra_dirs or [])]
    seen: set[Path] = set()
    for folder in dirs:
        if not folder.is_dir() or folder.resolve() in seen:
            continue
        seen.add(folder.resolve())
        for path in sorted(folder.glob("*.toml")):
            try:
                out.themes.append(load_theme_file(path))
            except ValueError as e:
                out.problems.append(f"{path.name}: {e}")
    return out
