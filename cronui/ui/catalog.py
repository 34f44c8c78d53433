"""The jobs as the UI knows them: every live job in memory (10,000 are a few megabytes), the last outcomes
of the ones on screen (fetched lazily, a page at a time), the pause flag, and the next fire.

Widgets never query the store; the app fills the catalog from the store and from engine events, and
widgets read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cronui.model import Job, RunStatus
from cronui.model.alerts import HEALTHS

STRIP_LEN = 20
# Health in the order lists sort it: worst first (model.alerts.HEALTHS), and a job that has not run yet
# last, after the healthy ones: it has nothing to be worse about yet.
HEALTH_RANK = {h: i for i, h in enumerate([*(h for h in HEALTHS if h != "never_ran"), "never_ran"])}


class Catalog:
    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}
        self.by_name: dict[str, Job] = {}
        self.strips: dict[int, list[RunStatus]] = {}
        self.health: dict[int, str] = {}  # each job's health, read every few seconds (one query)
        self._strips_asked: set[int] = set()
        self.paused = False
        self.loaded = False
        self._next: tuple[int, int] | None = None  # (next fire ms, job id), cached
        self.version = 0  # counts the changes to the jobs or their health (what a list's order may depend on)

    def __len__(self) -> int:
        return len(self.jobs)

    def replace_all(self, jobs: Iterable[Job]) -> None:
        self.jobs = {j.id: j for j in jobs if j.id is not None}
        self.by_name = {j.name: j for j in self.jobs.values()}
        self.loaded = True
        self._changed()

    def upsert(self, job: Job) -> None:
        assert job.id is not None
        old = self.jobs.get(job.id)
        if old is not None and old.name != job.name:
            self._forget_name(old)
        if job.deleted_at is not None:
            self.remove(job.id)
            return
        self.jobs[job.id] = job
        self.by_name[job.name] = job
        self._changed()

    def remove(self, job_id: int) -> None:
        job = self.jobs.pop(job_id, None)
        if job is not None:
            self._forget_name(job)
        self.strips.pop(job_id, None)
        self.health.pop(job_id, None)
        self._changed()

    def _forget_name(self, job: Job) -> None:
        """Drop the job's name, unless another job has taken it meanwhile (two jobs that swapped names,
        a job removed after a new one with its freed name was read)."""
        held = self.by_name.get(job.name)
        if held is not None and held.id == job.id:
            del self.by_name[job.name]

    def _changed(self) -> None:
        self._next = None
        self.version += 1

    def name_of(self, job_id: int | None) -> str:
        job = self.jobs.get(job_id) if job_id is not None else None
        return job.name if job else ""

    # ------------------------------------------------------------ health

    def set_health(self, health: Mapping[int, str]) -> bool:
        """Take in every job's health; True when any changed."""
        changed = dict(health) != self.health
        self.health = dict(health)
        if changed:
            self.version += 1
        return changed

    def health_of(self, job_id: int | None) -> str | None:
        """The job's health, or None while it is not known (a job added since the last read)."""
        return self.health.get(job_id) if job_id is not None else None

    def health_rank(self, job_id: int | None) -> int:
        """Where the job's health sorts, worst first (not known yet: after every known one)."""
        return HEALTH_RANK.get(self.health_of(job_id) or "", len(HEALTH_RANK))

    # ------------------------------------------------------------ outcome strips

    def strip(self, job_id: int) -> list[RunStatus] | None:
        return self.strips.get(job_id)

    def missing_strips(self, job_ids: Iterable[int]) -> list[int]:
        """Ids whose strip is neither known nor already asked for (each is asked for once)."""
        out = [i for i in job_ids if i not in self.strips and i not in self._strips_asked]
        self._strips_asked.update(out)
        return out

    def set_strips(self, strips: dict[int, list[RunStatus]]) -> None:
        self.strips.update(strips)

    def add_outcome(self, job_id: int, status: RunStatus) -> None:
        strip = self.strips.get(job_id)
        if strip is None:
            return  # never shown yet: fetched fresh when it is
        strip.append(status)
        del strip[:-STRIP_LEN]

    # ------------------------------------------------------------ what fires next

    def next_fire(self) -> tuple[int, Job] | None:
        if self._next is None:
            best: tuple[int, int] | None = None
            for job in self.jobs.values():
                if job.enabled and job.next_run_at is not None and (best is None or job.next_run_at < best[0]):
                    best = (job.next_run_at, job.id or 0)
            self._next = best if best is not None else (-1, -1)
        if self._next[0] < 0:
            return None
        first = self.jobs.get(self._next[1])
        return None if first is None else (self._next[0], first)
