"""cronui: a scheduler for recurring work, with a terminal UI and a headless daemon.

The packages, from the bottom layer up (each `__init__` says more; import-linter's contracts in
pyproject.toml keep the directions):
- `model/`               the domain types (jobs, runs, events, leases) and the plain values the store hands out
- `schedule/`            cron, intervals and one-shots in a job's zone, with Debian cron's rules
- `store/`               persistence behind one async Store protocol: one SQL store over a small dialect,
                         SQLite and PostgreSQL keeping only their connection and what their engine does its own way
- `engine/`              the scheduler: slots become pending runs, runs are claimed, executed and recorded;
                         alerts decided and sent
- `application/`         the use cases every face calls: validation and its messages, masking, JSON shapes
- `cli/`, `api/`, `ui/`, `daemon`  the faces, independent of each other
- `main/`                the program's entry: parses the command line and starts a face
- beside them: `jobs` (the rules a job must meet), `targets`, `jobfile/` and `crontab` (jobs as code),
  `config`, `locations`, `secrets`, `masking`, `timefmt`, `present` (short human texts)
Nothing below `ui/` imports Textual or Rich (a test checks every module).
"""

import sys

# httpx imports its own command line (click, rich, pygments: ~60 ms and several MB) whenever click is
# installed, and apprise, which sends alerts, brings click. cronui never runs httpx's command line, so it
# is not loaded: httpx then keeps a stub `main` (its `__init__` catches the ImportError this gives).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__version__ = "0.1.0"
