"""The codebase stays walkable: no module grows past 500 lines (a module that would is split along a seam
in the change that grows it). The layers themselves are import-linter's contracts in pyproject.toml,
checked by .ci/run."""

from pathlib import Path

import cronui

MAX_LINES = 500


def test_no_module_passes_500_lines():
    root = Path(cronui.__file__).parent
    sizes = {p.relative_to(root).as_posix(): len(p.read_text().splitlines()) for p in root.rglob("*.py")}
    over = {name: n for name, n in sorted(sizes.items()) if n > MAX_LINES}
    assert len(sizes) > 100, "the package was not found where the test looks"
    assert not over, f"modules over {MAX_LINES} lines: {over}"
