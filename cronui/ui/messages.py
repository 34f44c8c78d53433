"""The messages between the app and its screens.

Down (the app tells every screen on the stack; they do not bubble back): `JobsChanged`, `LiveChanged`,
`EngineEvents`, `ZoneChanged`, `ThemeChanged`, `Tick`, `SelectJob`. A screen handles the ones it has a
use for with `on_...` methods and ignores the rest.

Up (a screen asks; the message bubbles to the app): `RunNow`, `SetEnabled`, `RemoveJob`, `CancelRun`,
`OpenRun`, `EditJob`, `HeaderStale`. A screen therefore needs nothing of the app but its messages.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from cronui.model import Job, RunEvent
from cronui.ui.times import ZoneMode

# ---------------------------------------------------------------- down: the app tells the screens


class Notice(Message, bubble=False):
    """Something the app tells a screen; it stops at the screen."""


class JobsChanged(Notice):
    """The job catalog (or the pause flag) changed."""


class LiveChanged(Notice):
    """The runs in flight changed."""


class EngineEvents(Notice):
    """A batch of engine events, oldest first (after the catalog and the runs in flight took them in)."""

    def __init__(self, events: list[RunEvent]) -> None:
        super().__init__()
        self.events = events


class ZoneChanged(Notice):
    def __init__(self, mode: ZoneMode) -> None:
        super().__init__()
        self.mode = mode


class ThemeChanged(Notice):
    pass


class Tick(Notice):
    """Once a second: countdowns and running clocks move on."""


class SelectJob(Notice):
    """Put the cursor on this job (a job was just saved)."""

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id


# ---------------------------------------------------------------- up: a screen asks the app


class RunNow(Message):
    """Queue a run of the job; `open_it`: then show the new run in place of the screen that asked."""

    def __init__(self, job: Job, *, open_it: bool = False, params: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.job = job
        self.open_it = open_it
        self.params = params  # the values of its params (None: not asked yet; a job with params asks first)


class SetEnabled(Message):
    def __init__(self, job: Job, enabled: bool) -> None:
        super().__init__()
        self.job = job
        self.enabled = enabled


class RemoveJob(Message):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job


class CancelRun(Message):
    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id


class ApproveRun(Message):
    def __init__(self, run_id: int, job_name: str = "") -> None:
        super().__init__()
        self.run_id = run_id
        self.job_name = job_name


class RejectRun(Message):
    """Reject a run waiting for approval: the app asks for an optional reason first."""

    def __init__(self, run_id: int, job_name: str = "") -> None:
        super().__init__()
        self.run_id = run_id
        self.job_name = job_name


class OpenRun(Message):
    def __init__(self, run_id: int, *, follow: bool = False) -> None:
        super().__init__()
        self.run_id = run_id
        self.follow = follow


class EditJob(Message):
    """Open the job editor on this job, or on a new one (None); `clone`: on a new copy of this job."""

    def __init__(self, job: Job | None, *, clone: bool = False) -> None:
        super().__init__()
        self.job = job
        self.clone = clone


class HeaderStale(Message):
    """What the header shows for this screen changed (it came back on top, or its place changed)."""
