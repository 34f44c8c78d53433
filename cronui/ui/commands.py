"""Command mode (`:jobs`, `:theme NAME`, `:q`...) and the command palette (ctrl+p), which offers the same
verbs plus one entry per theme."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Protocol

from textual.command import DiscoveryHit, Hit, Hits, Provider

# Every command, once: command mode runs them, and the help, the prompt's hint, its completion and the `:`
# key's tooltip are all made from this list, so none of them can leave one out.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("jobs", "the job list"),
    ("runs", "every job's runs"),
    ("failed", "failures, last 24 h"),
    ("approvals", "runs waiting for approval"),
    ("overview", "every job at a glance"),
    ("alerts", "the alerts sent"),
    ("nodes", "the processes that schedule"),
    ("pause", "start nothing new"),
    ("resume", "end the pause"),
    ("new", "a new job"),
    ("theme NAME", "switch theme"),
    ("zone [NAME]", "times in NAME (or the next zone)"),
    ("help", "keys and commands"),
    ("q", "quit"),
)
KEYED = ("help", "q")  # commands that are also a key every screen's footer shows (? and q)
# what the prompt shows before anything is typed, and the `:` key's tooltip: every verb but the keyed ones,
# so that it fits in 80 columns (the help lists them all)
VERBS = " ".join(w for c, _ in COMMANDS if (w := c.split()[0]) not in KEYED)
HINT = VERBS


class CommandTarget(Protocol):
    """What command mode drives (the app)."""

    theme: str

    @property
    def available_themes(self) -> Iterable[str]: ...

    def quit_soon(self) -> None: ...
    def show_jobs(self) -> None: ...
    def open_runs(self, failed: bool) -> None: ...
    def open_overview(self) -> None: ...
    def open_alerts(self) -> None: ...
    def open_nodes(self) -> None: ...
    def open_approvals(self) -> None: ...
    def pause(self, paused: bool) -> None: ...
    def open_editor(self, job: None) -> None: ...
    def action_zone(self) -> None: ...
    def set_zone(self, name: str) -> str | None: ...
    def action_help(self) -> None: ...


def run_command(target: CommandTarget, text: str) -> str | None:
    """Do what a command says; returns an error to show in place, or None when done."""
    words = text.strip().lstrip(":").split()
    if not words:
        return None
    verb, args = words[0].lower(), words[1:]
    if verb in ("q", "quit", "q!"):
        target.quit_soon()
    elif verb in ("jobs", "job", "j"):
        target.show_jobs()
    elif verb in ("runs", "r"):
        target.open_runs(failed=False)
    elif verb in ("failed", "failures", "f"):
        target.open_runs(failed=True)
    elif verb in ("overview", "fleet", "o"):
        target.open_overview()
    elif verb in ("alerts", "alert", "al"):
        target.open_alerts()
    elif verb in ("nodes", "node"):
        target.open_nodes()
    elif verb in ("approvals", "approval", "approve", "a"):
        target.open_approvals()
    elif verb == "pause":
        target.pause(True)
    elif verb == "resume":
        target.pause(False)
    elif verb in ("new", "add"):
        target.open_editor(None)
    elif verb in ("zone", "tz"):
        if args:
            return target.set_zone(" ".join(args))
        target.action_zone()
    elif verb in ("help", "h", "?"):
        target.action_help()
    elif verb == "theme":
        themes = sorted(target.available_themes)
        if not args:
            return f"themes: {', '.join(themes)}"
        name = " ".join(args)
        if name not in themes:
            return f"unknown theme {name!r} (try :theme {themes[0]})"
        target.theme = name
    else:
        return f"unknown command {verb!r}: try {VERBS}"
    return None


class CronuiCommands(Provider):
    def _commands(self) -> Iterator[tuple[str, str, Callable[[], object]]]:
        app = self.app
        run = getattr(app, "run_command", None)
        if run is None:
            return
        yield "Jobs", "the job list (:jobs)", partial(run, "jobs")
        yield "Runs", "every job's runs, newest first (:runs)", partial(run, "runs")
        yield "Failed runs", "failures of the last 24 hours (:failed)", partial(run, "failed")
        yield "Overview", "every job's success, runs, failures and cost over time (:overview)", partial(run, "overview")
        yield (
            "Alerts",
            "the alerts sent: when, kind, job, channel, outcome, answer (:alerts, !)",
            partial(run, "alerts"),
        )
        yield "Approvals", "runs waiting for approval: approve or reject them (:approvals)", partial(run, "approvals")
        yield "Nodes", "the processes that schedule, their labels and heartbeats (:nodes)", partial(run, "nodes")
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
