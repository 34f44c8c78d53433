"""Export: jobs written back as a job file (TOML or JSON), leaving out what equals a built-in default,
so that export -> apply reproduces the state."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import tomli_w

from cronui.jobfile.schema import AGENT_KEYS, DURATION_KEYS, EXPORT_DEFAULTS, HTTP_KEYS, JOB_KEYS
from cronui.jobfile.view import view
from cronui.model import Job
from cronui.timefmt import duration_spec

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
INLINE_WIDTH = 100
_NO_DEFAULT = object()


def export_entry(job: Job) -> tuple[dict[str, Any], list[str]]:
    """One job as a `[[job]]` table, built-in defaults left out; and warnings for fields it cannot write."""
    warnings: list[str] = []
    entry: dict[str, Any] = {}
    for key, value in view(job).items():
        if not _exportable(key):
            warnings.append(f"job {job.name!r}: {key} is not part of the job-file format; not exported")
            continue
        default = EXPORT_DEFAULTS.get(key, _NO_DEFAULT)
        if value == default and isinstance(value, bool) == isinstance(default, bool):
            continue
        entry[key] = duration_spec(value) if key in DURATION_KEYS else value
    nested = _nest(entry)
    return {k: nested[k] for k in _export_order(nested)}, warnings


def _export_order(entry: Mapping[str, Any]) -> list[str]:
    order = {k: i for i, k in enumerate(JOB_KEYS)}
    return sorted(entry, key=lambda k: order.get(k, len(order)))


def dump_toml(jobs: Iterable[Job]) -> tuple[str, list[str]]:
    """The jobs as a job file: the text and warnings about fields the format cannot hold."""
    entries, warnings = _export_all(jobs)
    out = ["# cronui jobs: apply with `cronui apply FILE` (add --prune to remove jobs dropped from it)"]
    for entry in entries:
        out.append("")
        _emit_table("job", entry, out, "[[job]]")
    return "\n".join(out) + "\n", warnings


def _literal(value: Any, *, multiline: bool = False) -> str:
    """One TOML value; strings and numbers are formatted by tomli_w, so escaping is never ours."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_literal(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    # A multi-line string reads a CR LF back as LF (TOML normalizes line ends): text with a CR stays escaped.
    multiline = multiline and not (isinstance(value, str) and "\r" in value)
    return tomli_w.dumps({"v": value}, multiline_strings=multiline)[len("v = ") :].rstrip("\n")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _literal(key)


def _emit_table(path: str, table: Mapping[str, Any], out: list[str], header: str) -> None:
    """Keys with short values on one line each (lists and small maps inline, as people write them);
    maps too long for a line become `[path.key]` sections after them, as TOML requires."""
    sections: list[tuple[str, Mapping[str, Any]]] = []
    out.append(header)
    for key, value in table.items():
        if isinstance(value, dict) and value:
            inline = f"{_key(key)} = {_literal(value)}"
            if len(inline) > INLINE_WIDTH or "\n" in inline:
                sections.append((key, value))
                continue
            out.append(inline)
        else:
            out.append(f"{_key(key)} = {_literal(value, multiline=True)}")
    for key, value in sections:
        out.append("")
        name = f"{path}.{_key(key)}"
        _emit_table(name, value, out, f"[{name}]")


def dump_json(jobs: Iterable[Job]) -> tuple[str, list[str]]:
    entries, warnings = _export_all(jobs)
    return json.dumps({"job": entries}, indent=2, ensure_ascii=False) + "\n", warnings


def _export_all(jobs: Iterable[Job]) -> tuple[list[dict[str, Any]], list[str]]:
    entries: list[dict[str, Any]] = []
    warnings: list[str] = []
    for job in sorted(jobs, key=lambda j: j.name):
        entry, warn = export_entry(job)
        entries.append(entry)
        warnings.extend(warn)
    return entries, warnings


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Undo the dotting of `view` for the tables a file writes: env, http, agent and their
    headers / extra (whose own keys may contain dots)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if not rest:
            out[key] = value
        elif head == "env":
            out.setdefault("env", {})[rest] = value
        else:
            sub, _, name = rest.partition(".")
            table = out.setdefault(head, {})
            if name:
                table.setdefault(sub, {})[name] = value
            else:
                table[sub] = value
    return out


def _exportable(key: str) -> bool:
    """Whether a view key is one a job file can hold (others come from fields added to the model
    after this format, and are reported instead of written)."""
    head, _, rest = key.partition(".")
    if not rest:
        return head in JOB_KEYS
    if head == "env":
        return True
    sub, _, name = rest.partition(".")
    if head == "http":
        return sub in HTTP_KEYS and (not name or sub == "headers")
    if head == "agent":
        return sub in AGENT_KEYS and (not name or sub in ("headers", "extra"))
    return False
