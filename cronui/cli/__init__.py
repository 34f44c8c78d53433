"""The one-shot commands of the command line (the entry that parses them is `cronui.main`).

- `common`  what every command module shares: parser class, settings, the store, errors → exit codes (bad
            input: one line on stderr, exit 2, never a traceback)
- `jobs`    jobs add/list/show/edit/enable/disable/rm/run (`job_options`: the options add and edit share)
- `runs`    runs list/show/logs/tail/cancel
- `files`   apply, export, import crontab: jobs as code
- `system`  next, locate, status, pause/resume, db
- `alerts`  alerts sent and their outcome; a test notice to a channel
- `audit`   who changed which job, when, and what
- `nodes`, `db` (copy), `service` (systemd), `completion` (shell tab completion)

Command modules import `common` (and the layers below: the application, the engine, the model), never each
other and never another face; `cronui.main` imports them all. Names, options, output and JSON fields are a
contract: scripts depend on them.
"""
