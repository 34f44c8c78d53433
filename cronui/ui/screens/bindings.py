"""The key bindings more than one screen offers, defined once. A screen that shows one differently
(hidden from the footer, or under another name) derives it with `dataclasses.replace`."""

from __future__ import annotations

from dataclasses import replace

from textual.binding import Binding

FILTER = Binding(
    "slash",
    "filter",
    "Filter",
    id="filter",
    key_display="/",
    tooltip="Filter with status:, kind:, tag:, name: and words",
)
OPEN = Binding("enter", "open", "Open", id="open", tooltip="Open: jobs → their runs → a run's detail")
CANCEL_RUN = Binding(
    "x", "cancel_run", "Cancel run", id="cancel-run", tooltip="Cancel the selected run (or the job's run in flight)"
)
RUN_AGAIN = Binding("R", "run_again", "Run again", id="run-again", tooltip="Run the selected run's job again")
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
BACK = Binding(
    "escape", "back", "Back", id="back", tooltip="Back: close the prompt, clear the filter, or leave this view"
)


def hidden(binding: Binding) -> Binding:
    """The binding, left out of the footer (it still works, and the help lists it)."""
    return replace(binding, show=False)
