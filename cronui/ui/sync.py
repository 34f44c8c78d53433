"""The UI's view of the world kept in step with the engine: the job catalog and the runs in flight.

They are filled from the store at start (and after the scheduler changed hands, when the event stream may
have had a gap), then folded forward by engine events. A batch of events says which jobs to read again;
those reads are gathered, so a storm of finishing runs costs one pass over the jobs it touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cronui.model import EventKind, RunEvent, RunStatus
from cronui.ui.catalog import Catalog
from cronui.ui.client import EngineClient
from cronui.ui.inflight import InFlight

LIVE_LOAD_LIMIT = 200  # runs in flight loaded at start; the live pane shows at most this many anyway
LIVE_EVENTS_LOADED = 50  # of which this many get their logged milestones read back
RELOAD_ALL_OVER = 500  # more jobs to read again than this: read them all in one query
SCHEDULED_TRIGGERS = ("schedule", "catchup")


@dataclass
class Folded:
    """What a batch of events changed."""

    reload: set[int] = field(default_factory=set)  # jobs to read again
    jobs: bool = False  # the catalog changed in place (a job removed, paused or resumed)
    live: bool = False  # the runs in flight changed


def run_status(value: object) -> RunStatus | None:
    """The status an event's data names, or None when it names none we know."""
    if isinstance(value, str) and value in RunStatus._value2member_map_:
        return RunStatus(value)
    return None


class ViewSync:
    def __init__(self, client: EngineClient, catalog: Catalog, inflight: InFlight) -> None:
        self.client = client
        self.catalog = catalog
        self.inflight = inflight
        self._reload_ids: set[int] = set()

    async def load_all(self) -> None:
        """Read jobs, their health, the pause flag and the runs in flight from the store."""
        state = await self.client.in_flight(LIVE_LOAD_LIMIT, LIVE_EVENTS_LOADED)
        self.catalog.set_health(await self.client.healths())
        self.catalog.replace_all(state.jobs)
        self.catalog.paused = state.paused
        self.inflight.load(reversed(state.active), state.events)

    def fold(self, events: list[RunEvent]) -> Folded:
        """Take a batch of events into the catalog and the runs in flight."""
        out = Folded(live=self.inflight.apply(events))
        for ev in events:
            kind = ev.kind
            if ev.job_id is not None and kind in (
                EventKind.JOB_CREATED,
                EventKind.JOB_UPDATED,
                EventKind.JOB_AUTO_DISABLED,
            ):
                out.reload.add(ev.job_id)
            elif kind is EventKind.JOB_REMOVED and ev.job_id is not None:
                self.catalog.remove(ev.job_id)
                out.jobs = True
            elif kind is EventKind.QUEUED and ev.job_id is not None:
                if ev.data.get("trigger") in SCHEDULED_TRIGGERS:
                    out.reload.add(ev.job_id)  # the slot was taken: the job's next fire moved on
            elif kind is EventKind.FINISHED and ev.job_id is not None:
                status = run_status(ev.data.get("status"))
                if status is not None:
                    self.catalog.add_outcome(ev.job_id, status)
                out.reload.add(ev.job_id)
            elif kind in (EventKind.PAUSED, EventKind.RESUMED):
                self.catalog.paused = kind is EventKind.PAUSED
                out.jobs = True
        return out

    def want(self, job_ids: Iterable[int]) -> None:
        """Ask for these jobs to be read again at the next `reload`."""
        self._reload_ids.update(job_ids)

    @property
    def wanted(self) -> bool:
        return bool(self._reload_ids)

    async def reload(self) -> None:
        """Read again the jobs asked for (ids asked for meanwhile wait for the next call), and every job's
        health (one query: a run that ended may have changed it)."""
        ids, self._reload_ids = self._reload_ids, set()
        if len(ids) > RELOAD_ALL_OVER:
            self.catalog.replace_all(await self.client.jobs())
        else:
            for job_id in ids:
                job = await self.client.job(job_id)
                if job is None:
                    self.catalog.remove(job_id)
                else:
                    self.catalog.upsert(job)
        await self.read_health()

    async def read_health(self) -> bool:
        """Read every job's health; True when any changed."""
        return self.catalog.set_health(await self.client.healths())
