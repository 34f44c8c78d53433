"""The application layer: what a caller can ask of cronui, whichever face it comes through.

The CLI, the TUI's client, the HTTP API (and any later face) parse their own input and render the answer;
everything between lives here once: the use cases (add, change, remove and run jobs; list and read runs;
approve, cancel, stats, status), their validation and its messages, masking, and the JSON shapes. A face
never imports another face, and never a store backend.

- `errors`: the refusals every face shows in its own way (one line, the field it names, a kind that maps to
  exit code 2 on the CLI and to 400/404/409 on the API);
- `values`: the numbers, instants and durations callers send, read one way;
- `shapes`: jobs, runs and events as JSON (the contract scripts read);
- `reports`: who schedules (`status`), a job with its stats;
- `jobs`: list, show, add, change, remove, enable and run jobs, from a `Job` a face built or a job-file table.
- `runs`: list runs (filters, paging), read one and its output so far, cancel, approve, reject, follow the
  event log;
- `stats`: status, stats per job and overall, the timeline, the fleet's buckets, a job's recent outcomes.
"""
