"""How the job editor shows what is wrong: every problem at once, each under its field and named as the form
labels it, the field marked, the first one focused; problems no field holds are listed at the bottom."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual.containers import VerticalScroll
from textual.widgets import Input, Static

from cronui.ui.screens.editor_fields import CHECK_LINES, ERROR_LINES, problem_text, widget_of

if TYPE_CHECKING:
    from textual.screen import ModalScreen

    _Screen = ModalScreen[Any]
else:
    _Screen = object


class ShowsProblems(_Screen):
    """The editor's problem lines (a mixin for JobEditor: it needs `problems` and `show_check`)."""

    problems: dict[str, str]  # widget id -> the problem shown under it, from the last check

    def show_check(self, check: Static, text: str, state: str, invalid: str | None = None) -> None:
        """A check line under a field: its text and state (ok, bad, empty); a bad one marks the field."""
        check.update(text)
        check.set_classes(f"check -{state}")
        if invalid is not None:
            self.query_one(f"#{invalid}", Input).add_class("-invalid")

    def widget_for(self, error: Exception) -> str | None:
        """The id of the widget that holds what `error` is about, when the form shows it."""
        field = getattr(error, "field", None)
        if field is None:
            return None
        key = field.replace("-", " ").replace("_", " ")
        if key == "chain":  # a cycle: the chain field that takes part in it
            return "on_success" if self.query_one("#on_success", Input).value.strip() else "on_failure"
        widget = widget_of(field)
        if widget is None or not self.query(f"#{widget}"):
            return None
        return widget

    def show_problems(self, errors: Sequence[Exception]) -> None:
        """Mark each field with a problem and say what it is under it (the first problem of each field);
        problems with no field on the form are listed at the bottom; focus goes to the first bad field."""
        for old in list(self.problems):
            self.problems.pop(old)
            self._render_problem_line(old)
        loose: list[str] = []
        for error in errors:
            at = self.widget_for(error)
            if at is None:
                text = problem_text(error, None)
                if text not in loose:
                    loose.append(text)
            elif at not in self.problems:
                self.problems[at] = problem_text(error, at)
        for widget in self.problems:
            self._render_problem_line(widget)
        bottom = self.query_one("#editor-error", Static)
        if not errors:
            bottom.update("")
            return
        n = len(self.problems) + len(loose)
        if n == 1:
            bottom.update(f"✖ {next(iter(self.problems.values()), loose[0] if loose else '')}")
        else:
            marked = f", {len(self.problems)} of them marked at their fields" if loose else ", each marked at its field"
            bottom.update("\n".join([f"✖ {n} problems{marked if self.problems else ''}", *(f"✖ {t}" for t in loose)]))
        self._focus_first_problem()

    def _render_problem_line(self, widget: str) -> None:
        """The line under `widget` shows the problems of its row's fields; the field is marked while it has one."""
        if widget in CHECK_LINES:  # the schedule's and zone's own checks, redone as they are typed
            if widget in self.problems:
                check = self.query_one(f"#{CHECK_LINES[widget]}", Static)
                self.show_check(check, f"✖ {self.problems[widget]}", "bad", invalid=widget)
            return
        self.query_one(f"#{widget}").set_class(widget in self.problems, "-invalid")
        line_id = ERROR_LINES.get(widget, widget)
        row = [w for w in self.problems if ERROR_LINES.get(w, w) == line_id]
        line = self.query_one(f"#error-{line_id}", Static)
        line.update("\n".join(f"✖ {self.problems[w]}" for w in row))
        line.display = bool(row)

    def forget_problem(self, widget: str | None) -> None:
        """A field with a problem was changed: its mark and message go (the next check says if it is fixed)."""
        if widget is not None and widget in self.problems:
            del self.problems[widget]
            self._render_problem_line(widget)

    def _focus_first_problem(self) -> None:
        """Focus the first marked field in the form's order and bring it, with its message, into view."""
        for widget in self.query("#editor-body Input, #editor-body Select, #editor-body Checkbox, #editor-body #kind"):
            if widget.has_class("-invalid"):
                widget.focus(scroll_visible=False)
                body = self.query_one("#editor-body", VerticalScroll)
                self.call_after_refresh(body.scroll_to_center, widget, animate=False)
                return
