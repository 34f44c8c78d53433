"""Reading a job file: TOML or JSON text, the line of each `[[job]]` (tomllib keeps no positions), and
every entry turned into a Job, with all problems of the file reported at once."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cronui.config import Settings
from cronui.jobfile.entry import EntryReader
from cronui.jobfile.schema import FileJob, JobFile, JobFileError, source_for


def read_jobfile(path: str, settings: Settings, now_ms: int) -> JobFile:
    """Read, parse and validate a job file (`.json` as JSON, anything else as TOML)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise JobFileError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise JobFileError([f"{path}: cannot read it: {e}"]) from None
    data, headers = parse_text(text, path, as_json=p.suffix.lower() == ".json")
    jobs = load_entries(data, path, settings, now_ms, text=text, headers=headers, base_dir=p.parent)
    return JobFile(display=path, source=source_for(path), jobs=jobs, now_ms=now_ms)


def parse_text(text: str, display: str, *, as_json: bool = False) -> tuple[dict[str, Any], list[int] | None]:
    """The parsed document and the line of each `[[job]]` header (None when they cannot be told)."""
    if as_json:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise JobFileError([f"{display}:{e.lineno}: invalid JSON: {e.msg}"]) from None
        except ValueError:  # an integer of more than 4300 digits, which int() refuses to read
            raise JobFileError([f"{display}: invalid JSON: a number is too long to read"]) from None
        except RecursionError:
            raise JobFileError([f"{display}: invalid JSON: {TOO_DEEP}"]) from None
        _check_depth(data, display, "JSON")
        if not isinstance(data, dict):
            raise JobFileError([f'{display}: expected an object like {{"job": [...]}}'])
        return data, None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column (\d+)\)$", msg)
        if m:
            raise JobFileError(
                [f"{display}:{m[1]}: invalid TOML: {msg[: m.start()].strip()} (column {m[2]})"]
            ) from None
        raise JobFileError([f"{display}: invalid TOML: {msg}"]) from None
    except ValueError:  # an integer of more than 4300 digits
        raise JobFileError([f"{display}: invalid TOML: a number is too long to read"]) from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise JobFileError([f"{display}: invalid TOML: {TOO_DEEP}"]) from None
    _check_depth(data, display, "TOML")
    return data, _job_header_lines(text)


MAX_DEPTH = 32  # a job file's deepest value: an agent's `extra` table of tables; jobs need a handful of levels
TOO_DEEP = f"it nests arrays or tables more than {MAX_DEPTH} levels deep"


def _check_depth(data: object, display: str, kind: str) -> None:
    """Refuse a document nested deeper than MAX_DEPTH: what is stored is later copied, compared and written
    as JSON by recursive code, which must never meet a value that exhausts Python's stack."""
    level: list[object] = [data]
    for _ in range(MAX_DEPTH + 1):
        level = [v for c in level for v in (c.values() if isinstance(c, dict) else c if isinstance(c, list) else ())]
        if not level:
            return
    raise JobFileError([f"{display}: invalid {kind}: {TOO_DEEP}"])


_HEADER_RE = re.compile(r"^\s*\[\[\s*job\s*\]\]\s*(#.*)?$")


def _job_header_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), start=1) if _HEADER_RE.match(line)]


def _field_line(lines: list[str], start: int, end: int, key: str) -> int | None:
    """The line (1-based) within [start, end) where `key` ("http.url") is written, best effort: tomllib
    keeps no positions, and a message with a line number is worth a cheap textual search."""
    parts = key.split(".")
    found: int | None = None
    first = re.compile(rf"^\s*(\[\s*job\.)?{re.escape(parts[0])}\b\s*[=.\]]")
    for i in range(start, min(end, len(lines))):
        if first.search(lines[i]):
            found = i
            break
    if found is None:
        return None
    if len(parts) > 1:
        sub = re.compile(rf"(^|[\s{{,]){re.escape(parts[1])}\s*=")
        for i in range(found, min(end, len(lines))):
            if sub.search(lines[i]):
                return i + 1
    return found + 1


def load_entries(
    data: Mapping[str, Any],
    display: str,
    settings: Settings,
    now_ms: int,
    *,
    text: str = "",
    headers: list[int] | None = None,
    base_dir: Path | None = None,
    source: str | None = None,
) -> list[FileJob]:
    """Validate every `[[job]]` table; raise JobFileError listing every problem, or return the jobs."""
    problems: list[str] = []
    for key in data:
        if key != "job":
            problems.append(f"{display}: unknown top-level key {key!r} (a job file holds [[job]] tables)")
    entries = data.get("job", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise JobFileError([*problems, f"{display}: 'job' must be an array of tables: write each job as [[job]]"])
    if headers is not None and len(headers) != len(entries):
        headers = None  # e.g. `[[job]]` inside a multi-line string: no line numbers rather than wrong ones
    lines = text.splitlines()
    src = source or (source_for(display) if display not in ("-", "") else "file:-")
    out: list[FileJob] = []
    seen: dict[str, FileJob] = {}
    for i, entry in enumerate(entries):
        line = headers[i] if headers else None
        end = headers[i + 1] - 1 if headers and i + 1 < len(headers) else len(lines)
        reader = EntryReader(entry, settings, now_ms, base_dir)
        job = reader.read(src)
        name = entry.get("name") if isinstance(entry.get("name"), str) else None
        who = f"job {name!r}" if name else f"job #{i + 1}"
        for key, problem in reader.problems:
            where = (_field_line(lines, line - 1, end, key) or line) if line else None
            problems.append(
                f"{display}:{where}: {who}: {key}: {problem}" if where else f"{display}: {who}: {key}: {problem}"
            )
        if job is None:
            continue
        fj = FileJob(job=job, index=i + 1, line=line, explicit=frozenset(entry))
        if job.name in seen:
            first = seen[job.name]
            both = f" (lines {first.line} and {line})" if first.line and line else ""
            problems.append(f"{fj.where(display)}: job {job.name!r}: name: declared twice in the file{both}")
            continue
        seen[job.name] = fj
        out.append(fj)
    if problems:
        raise JobFileError(problems)
    return out
