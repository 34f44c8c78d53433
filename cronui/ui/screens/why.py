"""Keys that cannot act say why. A screen's `check_action` hides or dims a key that does not apply (the
footer shows what can be done); pressed anyway, such a key would do nothing, silently. Screens with this
mixin name the reason in a toast instead ("run #12 already finished")."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from cronui.model import Run, RunStatus


class SaysWhyNot:
    def why_not(self, action: str) -> str | None:
        """Why `action` cannot act now (None: it can, or there is nothing useful to say)."""
        return None

    async def on_key(self, event: events.Key) -> None:
        if isinstance(self.focused, Input):  # type: ignore[attr-defined]  # typing goes to the prompt
            return
        reasons = []
        # the screen's bindings as the keymap left them (`[keys]` may have moved one onto this key)
        chain = self._modal_binding_chain  # type: ignore[attr-defined]
        mine = next((bindings for node, bindings in chain if node is self), self._bindings)  # type: ignore[attr-defined]
        for binding in mine.key_to_bindings.get(event.key, ()):
            name, _, params = binding.action.partition("(")
            args = tuple(p.strip() for p in params.rstrip(")").split(",") if p.strip())
            if self.check_action(name, args):  # type: ignore[attr-defined]
                return
            reasons.append(self.why_not(name))
        reason = next((r for r in reasons if r), None)
        if reason:
            event.stop()
            event.prevent_default()
            self.notify(reason, severity="warning", timeout=3)  # type: ignore[attr-defined]


def run_why_not(action: str, run: Run | None) -> str | None:
    """Why a key about the selected run cannot act on it."""
    if run is None:
        return "no run selected"
    if action == "cancel_run" and run.status.is_final:
        return f"run #{run.id} already finished ({run.status}): nothing to cancel"
    if action in ("approve_run", "reject_run") and run.status is not RunStatus.AWAITING_APPROVAL:
        return f"run #{run.id} is not waiting for approval ({run.status})"
    if action == "follow" and run.status.is_final:
        return f"run #{run.id} already finished ({run.status}): nothing more to follow (enter opens it)"
    return None
