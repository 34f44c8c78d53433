"""The key bindings more than one screen offers, defined once. A screen that shows one differently
(hidden from the footer, or under another name) derives it with `dataclasses.replace`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from textual.binding import Binding

from cronui.model import RunStatus
from cronui.ui.messages import ApproveRun, RejectRun

if TYPE_CHECKING:
    from textual.message import Message

    from cronui.model import Run

FILTER = Binding(
    "slash",
    "filter",
    "Filter",
    id="filter",
    key_display="/",
    tooltip="Filter with status:, kind:, tag:, name:, health: and words",
)
OPEN = Binding("enter", "open", "Open", id="open", tooltip="Open: jobs → their runs → a run's detail")
CANCEL_RUN = Binding(
    "x", "cancel_run", "Cancel run", id="cancel-run", tooltip="Cancel the selected run (or the job's run in flight)"
)
RUN_AGAIN = Binding("R", "run_again", "Run again", id="run-again", tooltip="Run the selected run's job again")
# ctrl+c in a dialog does what escape does there (Textual would copy, or say "ctrl+q quits"): see
# AppRequests.action_interrupt. With text selected in a field, the field's own ctrl+c copies it first.
INTERRUPT = Binding("ctrl+c", "app.interrupt", "Stop", id="interrupt", show=False, tooltip="As escape, here")
FOLLOW = Binding("l", "follow", "Follow", id="follow", tooltip="Open a running run and follow its output")
APPROVE_RUN = Binding(
    "a", "approve_run", "Approve", id="approve-run", tooltip="Approve the selected run waiting for approval: it runs"
)
REJECT_RUN = Binding(
    "d",
    "reject_run",
    "Reject",
    id="reject-run",
    tooltip="Reject the selected run waiting for approval (asks for a reason): it is skipped",
)


class ApprovalActions:
    """APPROVE_RUN and REJECT_RUN for a screen whose `run` is the run they act on: they act only on a run
    waiting for approval (the screen's `why_not` says why otherwise)."""

    if TYPE_CHECKING:

        @property
        def run(self) -> Run | None: ...

    def action_approve_run(self) -> None:
        self._decide(ApproveRun)

    def action_reject_run(self) -> None:
        self._decide(RejectRun)

    def _decide(self, message: type[ApproveRun] | type[RejectRun]) -> None:
        run = self.run
        if run is not None and run.id is not None and run.status is RunStatus.AWAITING_APPROVAL:
            self.post_message(message(run.id, run.job_name))

    if TYPE_CHECKING:

        def post_message(self, message: Message) -> bool: ...  # the screen's


BACK = Binding(
    "escape", "back", "Back", id="back", tooltip="Back: close the prompt, clear the filter, or leave this view"
)


def hidden(binding: Binding) -> Binding:
    """The binding, left out of the footer (it still works, and the help lists it)."""
    return replace(binding, show=False)
