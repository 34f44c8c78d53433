"""cronui: a scheduler for recurring work, with a terminal UI and a headless daemon.

The packages, from the bottom up (each `__init__` says more):
- `model`, `targets`   the domain types: jobs and what they run, runs, events, statuses
- `schedule/`          cron, intervals and one-shots in a job's zone, with Debian cron's rules
- `jobs`               the one set of rules a job must meet, whoever writes it
- `store/`             persistence behind one async Store interface (SQLite)
- `engine/`            the scheduler: slots become pending runs, runs are claimed, executed and recorded
- `jobfile/`, `crontab` jobs as code: job files read, planned, applied and exported; crontab imported
- `cli/`, `daemon`     the command line and the headless daemon's log lines
- `ui/`                the Textual TUI; it reaches the engine through one client (`ui/client.py`)
- `config`, `locations`, `secrets`, `timefmt`, `present`  settings, folders, `${env:}` values, time
  text, and the JSON/text shapes shown outside the engine
Nothing below `ui/` imports Textual or Rich (a test checks every module).
"""

__version__ = "0.1.0"
