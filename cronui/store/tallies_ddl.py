"""The metrics' rollup in the schema (`GET /metrics`, cronui.store.metrics): its columns, how a migration seeds
it from the runs kept, and the run-end triggers that queue each run's end for it. Part of `ddl.py`'s LATER
migration that creates it, apart only for size: like every migration, never edited in place.
"""

from __future__ import annotations

from collections.abc import Sequence

# The histograms' upper bounds (ms), one column each: part of the schema, never edited (new bounds are new
# columns in a migration of their own).
TALLY_DURATION_MS = (100, 500, 1000, 5000, 10_000, 30_000, 60_000, 300_000, 900_000, 1_800_000, 3_600_000)
TALLY_LATENESS_MS = (100, 500, 1000, 5000, 15_000, 60_000, 300_000, 900_000, 3_600_000)
_UNENDED = "('pending', 'running', 'awaiting_approval')"
# a run's lateness: started_at - scheduled_for, 0 when it started early, NULL when it never started
_LATE = (
    "CASE WHEN {r}.started_at IS NULL THEN NULL WHEN {r}.started_at > {r}.scheduled_for "
    "THEN {r}.started_at - {r}.scheduled_for ELSE 0 END"
)
# the rollup's columns that the run ends add to; cost in billionths of a USD (cost_nusd): integers add up
# exactly, so that a sum less some of its parts never goes down
TALLY_SUMS = [
    "runs", "tokens", "cost_nusd", "costed", "d_count", "d_sum", *(f"d{i}" for i in range(len(TALLY_DURATION_MS))),
    "l_count", "l_sum", *(f"l{i}" for i in range(len(TALLY_LATENESS_MS))),
]  # fmt: skip
TALLY_KEY = ["job_id", "status", "trigger", "failure_kind"]
TALLY_ALL = 0  # the job_id of the rows that sum every job's (no job has id 0): the rest of the labelled ones

# one row per run that ended, written by the triggers below in the run's own transaction (an append: no two
# writers ever wait for each other on it), folded into run_tallies by `SqlMetrics.fold_run_ends`
_RUN_ENDS_VALUES = (
    "(NEW.job_id, NEW.status, NEW.trigger, COALESCE(NEW.failure_kind, ''), NEW.duration_ms, "
    + _LATE.format(r="NEW")
    + ", NEW.total_tokens, NEW.cost_usd)"
)
_RUN_ENDS = (
    "INSERT INTO run_ends (job_id, status, trigger, failure_kind, duration_ms, late_ms, tokens, cost_usd) VALUES "
)
_RUN_ENDS_INSERT = _RUN_ENDS + _RUN_ENDS_VALUES
# what the store writes for a run inserted already ended (`SqlRuns._insert_runs`: a missed slot, a ping's end)
RUN_ENDS_INSERT = _RUN_ENDS + "(?, ?, ?, ?, ?, ?, ?, ?)"
# the one piece of DDL the engines spell apart: a run updated from pending, running or awaiting_approval to a
# final status appends its row to run_ends (PostgreSQL: in the schema the migration ran in, whatever the
# search_path of the session that ends the run). Not a trigger on INSERT: on SQLite one made every insert of a
# run two to three times dearer, even with a WHEN that is false (tens of us a run); the few runs inserted
# ended are written by the store instead.
SQLITE_TRIGGERS = f"""
    CREATE TRIGGER runs_ended AFTER UPDATE OF status ON runs
    WHEN OLD.status IN {_UNENDED} AND NEW.status NOT IN {_UNENDED}
    BEGIN {_RUN_ENDS_INSERT}; END;
"""
PG_TRIGGERS = f"""
    CREATE FUNCTION cronui_run_ended() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
    BEGIN {_RUN_ENDS_INSERT}; RETURN NULL; END $$;
    CREATE TRIGGER runs_ended AFTER UPDATE OF status ON runs FOR EACH ROW
    WHEN (OLD.status IN {_UNENDED} AND NEW.status NOT IN {_UNENDED}) EXECUTE FUNCTION cronui_run_ended();
"""


def _bucket_sums(column: str, bounds_ms: Sequence[int]) -> str:
    return ", ".join(f"SUM(CASE WHEN {column} <= {b} THEN 1 ELSE 0 END)" for b in bounds_ms)


# the rollup seeded once from the runs kept when the migration runs (one grouped pass; later ends come
# through run_ends)
TALLY_SEED = (
    f"INSERT INTO run_tallies ({', '.join(TALLY_KEY + TALLY_SUMS)}) "
    "SELECT x.job_id, x.status, x.trigger, x.failure_kind, COUNT(*), COALESCE(SUM(x.total_tokens), 0), "
    "COALESCE(SUM(x.cost_nusd), 0), COUNT(x.cost_nusd), COUNT(x.duration_ms), COALESCE(SUM(x.duration_ms), 0), "
    f"{_bucket_sums('x.duration_ms', TALLY_DURATION_MS)}, COUNT(x.late_ms), COALESCE(SUM(x.late_ms), 0), "
    f"{_bucket_sums('x.late_ms', TALLY_LATENESS_MS)} "
    "FROM (SELECT r.job_id, r.status, r.trigger, COALESCE(r.failure_kind, '') AS failure_kind, r.total_tokens, "
    "CAST(ROUND(r.cost_usd * 1000000000) AS {BIGINT}) AS cost_nusd, r.duration_ms, "
    f"{_LATE.format(r='r')} AS late_ms FROM runs r WHERE r.status NOT IN {_UNENDED}) x "
    "GROUP BY x.job_id, x.status, x.trigger, x.failure_kind"
)
TALLY_TOTALS = (
    f"INSERT INTO run_tallies ({', '.join(TALLY_KEY + TALLY_SUMS)}) SELECT {TALLY_ALL}, status, trigger, failure_kind, "
    + ", ".join(f"SUM({c})" for c in TALLY_SUMS)
    + " FROM run_tallies GROUP BY status, trigger, failure_kind"
)
TALLY_COLUMNS = ",\n        ".join(f"{c} {{BIGINT}} NOT NULL DEFAULT 0" for c in TALLY_SUMS)
