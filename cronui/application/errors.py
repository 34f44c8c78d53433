"""The refusals a caller can get, whatever the face: bad input names the field and says what is wrong in a
line a person can read. The CLI prints the line and exits 2; the API answers 400, 404 or 409 with the line
and the problems field by field (`problems`)."""

from __future__ import annotations

from cronui.config import ConfigError
from cronui.engine.control import NotFound, NotWaiting
from cronui.jobs import JobError
from cronui.model import Run
from cronui.schedule import ScheduleError
from cronui.store.base import DuplicateJobName, StoreError


class Invalid(ValueError):
    """Bad input from a caller (a number out of range, an unknown status, a time that does not parse): one
    line that names what is wrong, and where one input holds several, each problem with its field."""

    def __init__(self, message: str, problems: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class NameTaken(DuplicateJobName):
    """A job's name another job has already (the API's 409): said before anything is written."""

    def __init__(self, name: str) -> None:
        super().__init__(f"name: a job named {name!r} already exists")
        self.problems = [{"field": "name", "problem": "exists"}]


BAD_INPUT: tuple[type[Exception], ...] = (Invalid, ConfigError, ScheduleError, JobError, StoreError)
"""Refusals of what a caller sent: the CLI's exit 2, the API's 400."""

MISSING: tuple[type[Exception], ...] = (NotFound,)
"""What names a job or run that is not there: the API's 404."""


class Ended(ValueError):
    """A cancel of a run that had already ended (nothing was changed); `run` is the run as it ended."""

    def __init__(self, run: Run) -> None:
        super().__init__(f"run #{run.id} already ended: {run.status}")
        self.run = run


class Forbidden(PermissionError):
    """The caller's token lacks the scope a request needs (the API's 403), or the `[policy]` refuses what it
    asks: the line names the scope needed, or the rule and its number."""

    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.problems = [{"field": rule, "problem": message}] if rule else []


CONFLICTS: tuple[type[Exception], ...] = (NotWaiting, DuplicateJobName, Ended)
"""What cannot be done to a thing in its present state: the API's 409."""

FORBIDDEN: tuple[type[Exception], ...] = (Forbidden,)
"""What the caller may not do (its scope, the policy): the API's 403."""

REFUSALS: tuple[type[Exception], ...] = BAD_INPUT + MISSING + CONFLICTS + FORBIDDEN
"""Every refusal a face shows as one line (the CLI: on stderr, exit code 2), never as a traceback."""


def first_line(e: Exception) -> str:
    """The refusal's one line: a multi-line message (a parser's) is cut to its first line."""
    text = str(e)
    return text.splitlines()[0] if text else type(e).__name__


def problems(e: Exception) -> list[dict[str, str]]:
    """The refusal field by field (`[{"field": ..., "problem": ...}]`), where it names a field."""
    if isinstance(e, JobError) and e.field is not None:
        return [{"field": e.field, "problem": e.problem}]
    if isinstance(e, Invalid | NameTaken | Forbidden):
        return list(e.problems)
    return []
