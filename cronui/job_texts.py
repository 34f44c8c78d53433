"""The texts of a job, checked wherever a job is saved (the CLI, job files, the TUI editor, the HTTP API: all
go through `cronui.jobs.validate`), so that what is stored can also be run and shown.

- **NUL**: no text that reaches exec, the environment, a path, a URL or a header may hold one (the kernel
  and HTTP cannot carry it): refused when saved, not met as a traceback when the job runs.
- **Sizes**, counted in UTF-8 bytes (`CAPS`): a shell command up to 64 KiB, below Linux's limit on one
  argument to exec (MAX_ARG_STRLEN, 128 KiB; `sh -c COMMAND` passes the command as one); an environment
  of up to 256 KiB in all (ARG_MAX, commonly 2 MiB, holds the arguments and the whole environment);
  URLs and each header up to 8 KiB (what common servers accept); a request body and an agent's
  message up to 1 MiB; a schedule up to 1 KiB.
- **`${env:NAME}`**: in the texts resolved when the job runs (environment values, URLs, headers, a body),
  every `${env:` must open a whole reference to a variable name: an unclosed `${env:A`, an empty
  `${env:}` or `${env:1X}` is refused, naming the field and the reference, instead of being sent as text.
  A shell command is not resolved (the shell reads `${...}` itself), so a reference there is refused
  with a pointer to `--env`.

`text_problems(job)` yields (field, problem) pairs; the field is spelled as the CLI's option.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from cronui.bounds import show
from cronui.controls import has_control
from cronui.model import Job
from cronui.targets import AgentTarget, HttpTarget, ShellTarget

KIB = 1024
MIB = 1024 * KIB

CAPS: dict[str, int] = {
    "shell": 64 * KIB,
    "gate": 64 * KIB,
    "cwd": 4 * KIB,  # PATH_MAX
    "env": 256 * KIB,  # all values and names together
    "http": 8 * KIB,
    "agent": 8 * KIB,
    "deliver-to": 8 * KIB,
    "alert-to": 8 * KIB,
    "fallback": 8 * KIB,
    "header": 8 * KIB,  # each header: name and value
    "body": 1 * MIB,
    "expect-body": 64 * KIB,
    "message": 1 * MIB,
    "system": 1 * MIB,
    "model": 256,
    "description": 4 * KIB,
    "schedule": 1 * KIB,
    "tag": 64,
}
MAX_TAGS = 64
MAX_HEADERS = 100
MAX_ENV = 1000

_REF_START = re.compile(r"\$\{env:")
_WHOLE_REF = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*\}")


def size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _shown_size(n: int) -> str:
    return f"{n // MIB} MiB" if n >= MIB and n % MIB == 0 else f"{n // KIB} KiB" if n >= KIB else f"{n} bytes"


def cap_problem(field: str, text: str, cap: int | None = None) -> str | None:
    cap = CAPS[field] if cap is None else cap
    n = size(text)
    if n > cap:
        return f"is {n:,} bytes long; at most {_shown_size(cap)}"
    return None


def ref_problem(text: str) -> str | None:
    """What is wrong with the `${env:...}` references in `text`, or None when every one is whole."""
    for m in _REF_START.finditer(text):
        if not _WHOLE_REF.match(text, m.start()):
            end = text.find("}", m.start())
            ref = text[m.start() : end + 1] if 0 <= end - m.start() < 60 else text[m.start() : m.start() + 20]
            unclosed = end < 0 or "{" in text[m.end() : end]
            why = "is never closed with }" if unclosed else "does not name a variable (letters, digits and _)"
            return f"the reference {show(ref)} {why}; write ${{env:NAME}}"
    return None


def _resolved(field: str, text: object, *, one_line: bool = True) -> Iterator[tuple[str, str]]:
    """A text resolved when the job runs and handed to exec, the environment, a URL or a header."""
    if not isinstance(text, str):
        return
    if "\x00" in text:
        yield field, "holds a NUL character (\\0), which cannot be passed on"
    elif one_line and has_control(text):
        yield field, "holds a line break or another control character"
    if (problem := cap_problem(field, text)) is not None:
        yield field, problem
    elif (problem := ref_problem(text)) is not None:
        yield field, problem


def _plain(field: str, text: object, *, nul: bool = True) -> Iterator[tuple[str, str]]:
    """A text that is stored and shown (or sent inside JSON), not resolved."""
    if not isinstance(text, str):
        return
    if nul and "\x00" in text:
        yield field, "holds a NUL character (\\0), which cannot be passed on"
    if (problem := cap_problem(field, text)) is not None:
        yield field, problem


def text_problems(job: Job) -> Iterator[tuple[str, str]]:
    """Every (field, problem) of the job's texts (see the module's docstring)."""
    if isinstance(job.schedule, str) and (problem := cap_problem("schedule", job.schedule)) is not None:
        yield "schedule", problem
    if isinstance(job.description, str):
        yield from _plain("description", job.description)
        if has_control(job.description, allow="\n\t"):
            yield "description", "holds a control character (line breaks and tabs are fine)"
    if isinstance(job.tags, list):
        if len(job.tags) > MAX_TAGS:
            yield "tag", f"{len(job.tags):,} tags; at most {MAX_TAGS}"
        for tag in job.tags:
            if isinstance(tag, str) and (problem := cap_problem("tag", tag)) is not None:
                yield "tag", f"{show(tag)} {problem}"
                break
    t = job.target
    if isinstance(t, ShellTarget):
        yield from _shell(t)
    elif isinstance(t, HttpTarget):
        yield from _resolved("http", t.url)
        yield from _headers("header", t.headers)
        if isinstance(t.body, str):
            yield from _resolved("body", t.body, one_line=False)
        yield from _plain("expect-body", t.expect_body, nul=False)
    elif isinstance(t, AgentTarget):
        yield from _resolved("agent", t.base_url)
        yield from _plain("model", t.model)
        yield from _plain("message", t.message, nul=False)
        yield from _plain("system", t.system, nul=False)
        yield from _headers("agent-headers", t.headers)
        if isinstance(t.gate, str):
            yield from _command("gate", t.gate)
        for fallback in t.fallbacks if isinstance(t.fallbacks, list) else []:
            yield from _resolved("fallback", fallback)
    for option, url in (("deliver-to", job.delivery.to), ("alert-to", job.delivery.alert_to)):
        yield from _resolved(option, url)


def _command(field: str, command: str) -> Iterator[tuple[str, str]]:
    if "\x00" in command:
        yield field, "holds a NUL character (\\0), which a command cannot hold"
    if (problem := cap_problem(field, command)) is not None:
        yield field, problem
    elif _REF_START.search(command):
        yield (
            field,
            "holds ${env:...}, which is resolved in --env values, URLs and headers, not in a command "
            "(pass it as --env NAME='${env:SECRET}' and use $NAME)",
        )


def _shell(t: ShellTarget) -> Iterator[tuple[str, str]]:
    if isinstance(t.command, str):
        yield from _command("shell", t.command)
    if isinstance(t.cwd, str):
        if "\x00" in t.cwd:
            yield "cwd", "holds a NUL character (\\0), which a path cannot hold"
        elif (problem := cap_problem("cwd", t.cwd)) is not None:
            yield "cwd", problem
    if isinstance(t.env, dict):
        yield from _env(t.env.items())


def _env(pairs: Iterable[tuple[object, object]]) -> Iterator[tuple[str, str]]:
    total = 0
    count = 0
    for name, value in pairs:
        count += 1
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        total += size(name) + size(value) + 2
        if "\x00" in value:
            yield "env", f"{name}: the value holds a NUL character (\\0), which the environment cannot carry"
            return
        if (problem := ref_problem(value)) is not None:
            yield "env", f"{name}: {problem}"
            return
    if count > MAX_ENV:
        yield "env", f"{count:,} variables; at most {MAX_ENV:,}"
    elif total > CAPS["env"]:
        yield "env", f"the variables are {total:,} bytes long together; at most {_shown_size(CAPS['env'])}"


def _headers(field: str, headers: object) -> Iterator[tuple[str, str]]:
    if not isinstance(headers, dict):
        return
    if len(headers) > MAX_HEADERS:
        yield field, f"{len(headers):,} headers; at most {MAX_HEADERS}"
        return
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        if (problem := cap_problem("header", f"{name}: {value}")) is not None:
            yield field, f"{cut_name(name)}: {problem}"
            return
        if (problem := ref_problem(value)) is not None:
            yield field, f"{cut_name(name)}: {problem}"
            return


def cut_name(name: str) -> str:
    return name if len(name) <= 40 else name[:37] + "..."
