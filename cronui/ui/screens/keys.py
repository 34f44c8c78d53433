"""Footer refreshes that happen only when they change something.

Textual's Footer rebuilds all its keys whenever bindings are refreshed; refreshing on every cursor move in
a 10,000-row list costs more than drawing the list. Screens say which actions depend on their state, and
the footer is refreshed only when one of those flips.
"""

from __future__ import annotations


class KeysFollowState:
    KEY_ACTIONS: tuple[str, ...] = ()
    _keys_state: tuple[bool | None, ...] | None = None

    def refresh_keys(self) -> None:
        check = self.check_action  # type: ignore[attr-defined]
        state = tuple(check(action, ()) for action in self.KEY_ACTIONS)
        if state != self._keys_state:
            self._keys_state = state
            self.refresh_bindings()  # type: ignore[attr-defined]
