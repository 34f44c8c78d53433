"""The TUI's screens: `main` (jobs, the selected job's runs, the live pane), `runs` (`:runs`/`:failed`),
`run_detail`, `job_editor`, `confirm` and `help`. `base` holds what the full screens share (context,
command mode), `bindings` each shared key binding once, `keys` the key list for `?`; `job_info`,
`job_runs` and `run_text` are the plain functions and loaders the screens draw from."""
