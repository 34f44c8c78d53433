"""The filter grammar shared by the job list and the run lists.

    status:failed kind:agent tag:ops backup      every term must match
    status:failed,timed_out                      a comma means "any of"
    -tag:ops   !status:succeeded                 a leading - or ! negates a term
    "nightly backup"                             quotes keep spaces in a word

Bare words match the job's name (case-insensitive substring). Keys: `status` (a run status; for jobs
also enabled / disabled / auto / paused), `kind`, `tag`, `name`, `zone`, `health` (jobs only: ok, late,
overrun, failing, degraded, no_success, paused, never_ran), `trigger` (runs only).
A bad term is an error that names it, shown where the filter is typed; the previous filter stays.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from cronui.model import Job, Run, RunStatus, TargetKind, Trigger
from cronui.model.alerts import HEALTHS

JOB_STATES = {"enabled", "disabled", "auto", "paused"}
FAILURES = (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)
_STATUS_ALIASES = {"ok": "succeeded", "success": "succeeded", "fail": "failed", "timeout": "timed_out"}
KEYS = ("status", "kind", "tag", "name", "zone", "health", "trigger")


class FilterError(ValueError):
    pass


@dataclass
class Term:
    key: str  # "" for a bare word
    values: tuple[str, ...]
    negate: bool = False


@dataclass
class Filter:
    text: str = ""
    terms: list[Term] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def run_statuses(self) -> list[RunStatus]:
        """Statuses a store query can narrow to (one positive status term), else all."""
        for t in self.terms:
            if t.key == "status" and not t.negate:
                return [RunStatus(v) for v in t.values if v in RunStatus._value2member_map_]
        return []

    def name_words(self) -> list[tuple[str, ...]] | None:
        """Each term's values when every term is a positive match on the job's name (bare words, `name:`):
        then a job matches when its casefolded name holds one value of each term. None otherwise."""
        if any(t.negate or t.key not in ("", "name") for t in self.terms):
            return None
        return [t.values for t in self.terms]

    def matches_job(self, job: Job, paused: bool = False, health: str | None = None) -> bool:
        """`health`: the job's, as last read (None while not known: a `health:` term matches nothing)."""
        return all(_job_term(t, job, paused, health) != t.negate for t in self.terms)

    def matches_run(self, run: Run, job: Job | None) -> bool:
        return all(_run_term(t, run, job) != t.negate for t in self.terms)


def parse_filter(text: str, *, for_runs: bool = False) -> Filter:
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise FilterError(f"filter: {e}") from None
    terms: list[Term] = []
    for word in words:
        negate = word[:1] in "-!" and len(word) > 1
        body = word[1:] if negate else word
        key, sep, value = body.partition(":")
        if not sep:
            terms.append(Term("", (body.casefold(),), negate))
            continue
        key = key.casefold()
        if key not in KEYS:
            hint = _did_you_mean(key, [f"{k}:" for k in KEYS], suffix=":")
            raise FilterError(f"filter: unknown key {key!r} in {word!r}{hint} (keys: {', '.join(KEYS)})")
        values = tuple(v.strip().casefold() for v in value.split(",") if v.strip())
        if not values:
            raise FilterError(f"filter: {word!r} needs a value, e.g. {key}:{_example(key)}")
        if key == "status":
            values = tuple(_STATUS_ALIASES.get(v, v) for v in values)
            allowed = set(RunStatus._value2member_map_) | (set() if for_runs else JOB_STATES)
            bad = [v for v in values if v not in allowed]
            if bad:
                hint = _did_you_mean(bad[0], sorted(allowed))
                raise FilterError(f"filter: unknown status {bad[0]!r}{hint} (one of: {', '.join(sorted(allowed))})")
        elif key == "kind":
            bad = [v for v in values if v not in TargetKind._value2member_map_]
            if bad:
                hint = _did_you_mean(bad[0], list(TargetKind._value2member_map_))
                raise FilterError(f"filter: unknown kind {bad[0]!r}{hint} (shell, http or agent)")
        elif key == "health":
            if for_runs:
                raise FilterError("filter: health: applies to jobs, not runs")
            values = tuple(v.replace(" ", "_").replace("-", "_") for v in values)
            bad = [v for v in values if v not in HEALTHS]
            if bad:
                hint = _did_you_mean(bad[0], list(HEALTHS))
                raise FilterError(f"filter: unknown health {bad[0]!r}{hint} (one of: {', '.join(HEALTHS)})")
        elif key == "trigger":
            if not for_runs:
                raise FilterError("filter: trigger: applies to runs, not jobs")
            bad = [v for v in values if v not in Trigger._value2member_map_]
            if bad:
                raise FilterError(f"filter: unknown trigger {bad[0]!r} ({', '.join(Trigger)})")
        terms.append(Term(key, values, negate))
    return Filter(text.strip(), terms)


def _did_you_mean(word: str, choices: list[str], suffix: str = "") -> str:
    """' — did you mean X?' for a typo close to one of `choices`, else nothing."""
    close = difflib.get_close_matches(word + suffix, choices, n=1, cutoff=0.6)
    return f" — did you mean {close[0]}?" if close else ""


def _example(key: str) -> str:
    examples = {"status": "failed", "kind": "agent", "tag": "ops", "name": "backup", "zone": "europe", "health": "late"}
    return examples.get(key, "manual")


def _name_matches(name: str, values: tuple[str, ...]) -> bool:
    folded = name.casefold()
    return any(v in folded for v in values)


def _job_common(t: Term, job: Job) -> bool | None:
    if t.key in ("", "name"):
        return _name_matches(job.name, t.values)
    if t.key == "kind":
        return str(job.kind) in t.values
    if t.key == "tag":
        tags = {tag.casefold() for tag in job.tags}
        return any(v in tags for v in t.values)
    if t.key == "zone":
        return any(v in job.timezone.casefold() for v in t.values)
    return None


_STATE_TESTS: dict[str, Callable[[Job, bool], bool]] = {
    "enabled": lambda j, p: j.enabled,
    "disabled": lambda j, p: not j.enabled,
    "auto": lambda j, p: bool(j.auto_disabled),
    "paused": lambda j, p: p and j.enabled,
}


def _job_term(t: Term, job: Job, paused: bool, health: str | None = None) -> bool:
    common = _job_common(t, job)
    if common is not None:
        return common
    if t.key == "health":
        return health in t.values
    if t.key == "status":
        for v in t.values:
            test = _STATE_TESTS.get(v)
            if test is not None and test(job, paused):
                return True
            if job.last_status is not None and str(job.last_status) == v:
                return True
        return False
    return False


def _run_term(t: Term, run: Run, job: Job | None) -> bool:
    if t.key == "status":
        return str(run.status) in t.values
    if t.key == "trigger":
        return str(run.trigger) in t.values
    if t.key in ("", "name"):
        return _name_matches(run.job_name or (job.name if job else ""), t.values)
    if job is None:
        return False
    return bool(_job_common(t, job))
