"""The web stack `cronui serve` needs stays light for every other command."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def runtime_closure(name: str, without: frozenset[str] = frozenset()) -> set[str]:
    """Every package installing `name` brings (its requirements, theirs, ...), extras left out; `without`:
    packages whose requirements are not followed."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = canonicalize_name(todo.pop())
        if current in seen:
            continue
        seen.add(current)
        if current in without:
            continue
        try:
            requires = distribution(current).requires or []
        except PackageNotFoundError:  # for another platform (tzdata on Windows)
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_the_scheduler_loads_no_command_line_of_its_dependencies() -> None:
    """apprise (alerts) brings click, and with click installed `import httpx` loads httpx's own command line
    (click, rich, pygments). A scheduler process must stay without them: the daemon's engine and the CLI's
    commands load httpx, never rich. Hypercorn, not uvicorn (which needs click), serves the API; uvicorn is
    installed only because the official MCP SDK requires it, and no scheduler process imports it."""
    closure = runtime_closure("cronui")
    assert {"fastapi", "hypercorn", "sse-starlette", "httpx", "apprise", "mcp"} <= closure
    assert "uvicorn" not in runtime_closure("cronui", without=frozenset({"mcp"}))  # only the MCP SDK brings it
    code = (
        "import sys\n"
        "import cronui.engine.engine, cronui.engine.channels, cronui.daemon\n"
        "from cronui.main import main\n"
        "main(['next', 'every 5m', '-n', '1'])\n"
        "print(sorted(m for m in ('httpx', 'click', 'rich', 'pygments', 'uvicorn') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "['httpx']"


def test_other_commands_do_not_load_the_web_stack() -> None:
    code = (
        "import sys\n"
        "from cronui.main import main\n"
        "main(['next', 'every 5m', '-n', '1'])\n"
        "print(sorted(m for m in ('fastapi', 'hypercorn', 'starlette', 'pydantic') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "[]"
