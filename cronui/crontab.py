"""Reading a crontab(5) file into shell jobs, for `cronui import crontab`.

What cron does that cronui does differently is turned into something equivalent or reported:

- `%` in a command: the first unescaped `%` ends the command and the rest goes to its standard input,
  each further unescaped `%` a newline; `\\%` is a literal `%` (cronie's rules, byte for byte). cronui has
  no stdin field, so the input is fed by the command itself: `printf '%s' 'INPUT' | (COMMAND)`.
  `printf '%s'` writes the text exactly (no trailing newline is added, as cron adds none).
- `NAME=value` lines set the environment of the lines after them (quotes around the value are removed,
  as cron does); `CRON_TZ=` (and `TZ=`) set the time zone the following schedules are read in.
- `SHELL=` other than sh: cron would run the commands with that shell, so they are wrapped in
  `SHELL -c '...'`; cronui itself always runs `/bin/sh -c`.
- `MAILTO=`: cronui sends no mail; reported with a hint to use delivery instead.
- `@reboot`: cronui schedules by time only; reported and not imported.
- A system crontab (a user column after the schedule) is recognized; the column is dropped and reported,
  since cronui runs every job as the user it runs as.
"""

from __future__ import annotations

import getpass
import os
import pwd
import re
import shlex
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field

from cronui.jobs import ENV_KEY_RE

_ENV_RE = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([^\s="']+))\s*=\s*(.*?)\s*$""")
_FIVE_RE = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)(?:\s+(.*))?$")
_ALIAS_RE = re.compile(r"^\s*(@\S+)(?:\s+(.*))?$")
_USER_RE = re.compile(r"^(\S+)\s+(.*)$")
_ENTRY_LIKE = re.compile(r"^\s*(@[a-z]+|[\d*][\d*/,-]*)\s", re.IGNORECASE)  # a commented-out job line

MAIL_VARS = ("MAILTO", "MAILFROM")
ZONE_VARS = ("CRON_TZ", "TZ")
UNSUPPORTED_VARS = ("RANDOM_DELAY", "CRON_CORRECT")
SYSTEM_PATHS = ("/etc/crontab", "/etc/cron.d/")


@dataclass
class CronEntry:
    """One job line, ready to become a shell job."""

    line: int
    schedule: str
    command: str  # what cronui runs: stdin and SHELL folded in
    raw: str  # the command as written in the crontab
    env: dict[str, str] = field(default_factory=dict)
    zone: str | None = None  # from CRON_TZ / TZ; None: the default zone
    zone_line: int | None = None
    description: str = ""
    user: str | None = None  # the user column of a system crontab


@dataclass
class Crontab:
    entries: list[CronEntry] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)  # reported, nothing lost that cronui could run
    errors: list[tuple[int, str]] = field(default_factory=list)  # bad lines: not imported
    system: bool = False


# ---------------------------------------------------------------- % and stdin


def split_percent(command: str) -> tuple[str, str | None]:
    """Split a crontab command at its first unescaped `%` into (command, stdin or None), translating
    as cron does: in the command `\\%` becomes `%` (other backslashes stay); in the input every
    unescaped `%` becomes a newline and `\\%` becomes `%`."""
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(command):
        if escaped:
            if ch == "%":
                out[-1] = "%"  # the backslash goes, the percent stays
            else:
                out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "%":
            return "".join(out), _stdin_text(command[i + 1 :])
        else:
            out.append(ch)
    return "".join(out), None


def _stdin_text(data: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in data:
        if escaped:
            if ch != "%":
                out.append("\\")
        elif ch == "%":
            ch = "\n"
        escaped = ch == "\\"
        if not escaped:
            out.append(ch)
    if escaped:
        out.append("\\")
    return "".join(out)


def with_stdin(command: str, stdin: str | None, shell: str | None = None) -> str:
    """The shell command that runs `command` (under `shell` when cron would have used another shell)
    with `stdin` as its standard input."""
    if shell:
        command = f"{shell} -c {shlex.quote(command)}"
    if stdin is None:
        return command
    if shell:
        return f"printf '%s' {shlex.quote(stdin)} | {command}"
    # a `#` in the command may start a comment, which would swallow the closing parenthesis
    body = f"{command}\n" if "#" in command else command
    return f"printf '%s' {shlex.quote(stdin)} | ({body})"


# ---------------------------------------------------------------- names

_WRAPPERS = {"nice", "ionice", "nohup", "chronic", "env", "time", "exec", "timeout", "flock", "sudo", "setlock"}
_SKIPPED = {"cd", "export", "source", ".", "sleep", "set", "umask", "test", "[", "true", ":", "mkdir", "ulimit"}
_INTERPRETERS = re.compile(r"^(sh|bash|dash|zsh|ksh|python|python\d[\d.]*|pypy\d*|node|perl|ruby|php\d*|bun|deno)$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_URL_HOST = re.compile(r"^https?://(?:www\.)?([^/:?#\s]+)", re.IGNORECASE)
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_:-]{0,30}$")
_OPTION_WITH_VALUE = {"sudo": {"-u", "-g"}, "ionice": {"-c", "-n"}, "nice": {"-n"}, "timeout": {"-s", "-k"}}


def _tokens(command: str) -> list[str]:
    try:
        lex = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
        lex.whitespace_split = True
        return list(lex)
    except ValueError:  # unbalanced quotes: a rough split is good enough for a name
        return command.split()


def _segments(tokens: list[str]) -> list[list[str]]:
    """Simple commands of a command line: split at ; && || | & ( ), redirections and their targets dropped."""
    segments: list[list[str]] = [[]]
    skip_next = False
    for tok in tokens:
        if skip_next:
            skip_next = False
            continue
        if tok and set(tok) <= set(";&|()"):
            segments.append([])
        elif tok and set(tok) <= set("<>&"):
            skip_next = True
        else:
            segments[-1].append(tok)
    return [s for s in segments if s]


def _unwrap(words: list[str]) -> list[str]:
    """Drop leading VAR=value words and wrappers such as nice, flock FILE, timeout 5m."""
    i = 0
    while i < len(words):
        base = os.path.basename(words[i])
        if _ASSIGN.match(words[i]):
            i += 1
            continue
        if base not in _WRAPPERS:
            return words[i:]
        i += 1
        with_value = _OPTION_WITH_VALUE.get(base, set())
        while i < len(words) and (words[i].startswith("-") or re.fullmatch(r"[\d.]+[smhd]?", words[i])):
            i += 2 if words[i] in with_value else 1
        if base in ("flock", "setlock") and i < len(words):
            i += 1  # the lock file
            if i + 1 < len(words) and words[i] == "-c":
                return _program_words(words[i + 1])
    return []


def _program_words(command: str) -> list[str]:
    segments = [_unwrap(s) for s in _segments(_tokens(command))]
    segments = [s for s in segments if s]
    for words in segments:
        if os.path.basename(words[0]) not in _SKIPPED:
            return words
    return segments[0] if segments else []


def derive_name(command: str) -> str:
    """A job name from a command: the program's base name (the script's, for interpreters) and its
    first argument when that is a plain word (a subcommand): `/usr/local/bin/backup.sh --full` ->
    `backup-sh`, `restic backup ~` -> `restic-backup`, `python3 /srv/report.py` -> `report-py`."""
    words = _program_words(command)
    if not words:
        return "cron-job"
    prog = os.path.basename(words[0])
    rest = words[1:]
    if _INTERPRETERS.match(prog):
        j = 0
        while j < len(rest) and rest[j].startswith("-"):
            if rest[j] == "-c" and j + 1 < len(rest):
                return derive_name(rest[j + 1])
            if rest[j] == "-m" and j + 1 < len(rest):
                break
            j += 1
        if j < len(rest) and rest[j] == "-m":
            j += 1
        if j < len(rest):
            prog, rest = os.path.basename(rest[j]), rest[j + 1 :]
        else:
            rest = []
    name = prog
    if rest and _WORD.match(rest[0]):
        name = f"{prog}-{rest[0]}"
    else:
        url = next((m for w in rest if (m := _URL_HOST.match(w))), None)
        if url is not None:  # curl -fsS https://example.com/ping -> curl-example-com
            name = f"{prog}-{url.group(1)}"
    return slug(name)


def slug(text: str) -> str:
    """A valid job name: lower case, runs of other characters as one '-'."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:60].strip("-") or "cron-job"


def unique_name(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever is free; the result is added to `taken`."""
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name)
    return name


# ---------------------------------------------------------------- the file


def _env_line(line: str) -> tuple[str, str] | None:
    m = _ENV_RE.match(line)
    if m is None:
        return None
    name = m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)
    value = m.group(4)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return name, value


def _known_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except (KeyError, OSError):
        return False
    return True


def looks_like_system(text: str, path: str | None = None) -> bool:
    """A system crontab has a user column after the schedule. Recognized by its path, or when every job
    line's word after the schedule is a user name of this machine."""
    if path and any(os.path.abspath(path).startswith(p) for p in SYSTEM_PATHS):
        return True
    users: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or _env_line(line):
            continue
        if line.startswith("@"):
            m = _ALIAS_RE.match(line)
            rest = m.group(2) if m else None
        else:
            m = _FIVE_RE.match(line)
            rest = m.group(6) if m else None
        words = (rest or "").split(maxsplit=1)
        if len(words) < 2:
            return False
        users.append(words[0])
    # a word that is also a command (Debian has a user called `backup`) reads as the command
    return bool(users) and all(_known_user(u) and shutil.which(u) is None for u in users)


def parse_crontab(text: str, *, system: bool = False) -> Crontab:
    """Read a crontab. Schedules are taken as written (validated when the jobs are built)."""
    tab = Crontab(system=system)
    env: dict[str, str] = {}
    cron_tz: tuple[str, int] | None = None
    tz: tuple[str, int] | None = None
    shell: str | None = None
    comments: list[str] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped:
            comments = []
            continue
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            if body and not _ENTRY_LIKE.match(body) and not _env_line(body):
                comments.append(body)
            continue
        assignment = _env_line(line)
        if assignment is not None:
            comments = []
            name, value = assignment
            if name in ZONE_VARS:
                if name == "CRON_TZ":
                    cron_tz = (value, n) if value else None
                else:
                    tz = (value, n) if value else None
                    _set(env, name, value)
            elif name in MAIL_VARS:
                if value and name == "MAILTO":
                    tab.notes.append(
                        (
                            n,
                            f"MAILTO={value}: cronui sends no mail; to get results or failure alerts, give the jobs "
                            "a delivery target (cronui jobs edit NAME --deliver-to URL --deliver on_failure)",
                        )
                    )
            elif name in UNSUPPORTED_VARS:
                tab.notes.append((n, f"{name}={value}: not supported by cronui; ignored"))
            elif name == "SHELL":
                shell = value if value and os.path.basename(value) != "sh" else None
                if shell:
                    tab.notes.append(
                        (n, f"SHELL={value}: the commands after this line are run as {value} -c '...', as cron would")
                    )
            elif not ENV_KEY_RE.match(name):
                tab.errors.append((n, f"{name!r} is not a valid environment variable name"))
            else:
                _set(env, name, value)
            continue
        entry = _entry(n, line, tab)
        if entry is None:
            comments = []
            continue
        command, stdin = split_percent(entry.raw)
        if not command.strip():
            tab.errors.append((n, "no command before the first % (the rest of a line after % is its input)"))
            comments = []
            continue
        entry.command = with_stdin(command, stdin, shell)
        entry.env = dict(env)
        zone = cron_tz or tz
        if zone is not None:
            entry.zone, entry.zone_line = zone
        entry.description = " ".join(comments)
        comments = []
        tab.entries.append(entry)
    if system:
        me = getpass.getuser()
        others = sorted({e.user for e in tab.entries if e.user} - {me})
        tail = f"; jobs that ran as {', '.join(others)} will run as {me}" if others else ""
        tab.notes.append(
            (
                0,
                f"system crontab format: the user column after the schedule was dropped (cronui runs every job as "
                f"the user it runs as){tail}",
            )
        )
    return tab


def _set(env: dict[str, str], name: str, value: str) -> None:
    """cron lets a later line change a variable; an empty value still sets it (to empty)."""
    env[name] = value


def _entry(n: int, line: str, tab: Crontab) -> CronEntry | None:
    stripped = line.strip()
    if stripped.startswith("@"):
        m = _ALIAS_RE.match(line)
        assert m is not None
        schedule, rest = m.group(1), m.group(2)
        if schedule.lower() == "@reboot":
            tab.notes.append(
                (
                    n,
                    "@reboot is not supported: cronui runs jobs by time, not at boot; not imported (start it "
                    "from a systemd unit or your init system instead)",
                )
            )
            return None
    else:
        m = _FIVE_RE.match(line)
        if m is None:
            tab.errors.append((n, "expected five time fields and a command (or @daily-style alias and a command)"))
            return None
        schedule, rest = " ".join(m.group(i) for i in range(1, 6)), m.group(6)
    user = None
    if tab.system and rest:
        um = _USER_RE.match(rest)
        if um is None:
            tab.errors.append((n, "expected a user name and a command after the schedule (system crontab)"))
            return None
        user, rest = um.group(1), um.group(2)
    if not rest or not rest.strip():
        tab.errors.append((n, f"no command after the schedule {schedule!r}"))
        return None
    return CronEntry(line=n, schedule=schedule, command="", raw=rest, user=user)


def names_for(entries: Iterable[CronEntry], taken: set[str]) -> list[str]:
    """Unique names, in order, for `entries`, avoiding `taken` (which they are added to)."""
    return [unique_name(derive_name(split_percent(e.raw)[0]), taken) for e in entries]
