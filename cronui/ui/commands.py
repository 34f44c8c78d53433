"""The command palette (ctrl+p): the verbs of command mode, plus one entry per theme."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class CronuiCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        app = self.app
        run = getattr(app, "run_command", None)
        if run is None:
            return
        yield "Jobs", "the job list (:jobs)", partial(run, "jobs")
        yield "Runs", "every job's runs, newest first (:runs)", partial(run, "runs")
        yield "Failed runs", "failures of the last 24 hours (:failed)", partial(run, "failed")
        yield "New job", "open the job editor (n)", partial(run, "new")
        yield "Pause scheduling", "maintenance: start nothing new (:pause)", partial(run, "pause")
        yield "Resume scheduling", "end maintenance (:resume)", partial(run, "resume")
        yield "Toggle time zone", "job zone → local → UTC (t)", partial(run, "zone")
        yield "Help", "keys, filter grammar and commands (?)", partial(run, "help")
        yield "Quit", "leave cronui (q)", partial(run, "q")
        for name in sorted(app.available_themes):
            yield f"Theme: {name}", f"switch to the {name} theme (:theme {name})", partial(run, f"theme {name}")

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            if not name.startswith("Theme: "):
                yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
