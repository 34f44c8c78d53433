"""Placement on the command line: `jobs add/edit --node-label`, `node_label` in job files, a node's labels
from its config, CRONUI_NODE_LABELS or `--label`, and the warnings when no live node has a job's label."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from pathlib import Path

import pytest

from cronui.config import ConfigError, load_settings
from cronui.model.records import Node
from cronui.store.sqlite import SQLiteStore
from tests.helpers import cli, live_jobs


def add(capsys, *extra: str) -> tuple[int, str, str]:
    return cli(capsys, "jobs", "add", "render", "--schedule", "*/5 * * * *", "--shell", "make render", *extra)


def beat(path: Path, labels: list[str], *, expires_in_ms: int = 60_000, host: str = "render-box", pid: int = 7) -> None:
    """A node with these labels, as its heartbeat left it in the nodes table (on another host by default)."""

    async def go() -> None:
        store = SQLiteStore(path)
        await store.open()
        try:
            import time

            now = int(time.time() * 1000)
            await store.heartbeat(Node(f"{host}:{pid}:abc", host, pid, now, now, now + expires_in_ms, 0, labels))
        finally:
            await store.close()

    asyncio.run(go())


def test_a_job_is_pinned_with_node_label_and_unpinned_with_an_empty_one(capsys, cli_db: Path):
    code, out, err = add(capsys, "--node-label", "gpu", "--json")
    assert code == 0
    assert json.loads(out)["node_label"] == "gpu"
    assert live_jobs(cli_db)["render"]["node_label"] == "gpu"
    assert "no live node has label 'gpu'" in err  # said at once, not found out later
    code, out, _ = cli(capsys, "jobs", "show", "render")
    assert "placement  nodes with label gpu" in out
    code, out, err = cli(capsys, "jobs", "edit", "render", "--node-label", "")
    assert code == 0 and err == ""
    assert live_jobs(cli_db)["render"]["node_label"] is None


def test_a_bad_node_label_is_one_line_exit_2_and_changes_nothing(capsys, cli_db: Path):
    assert add(capsys)[0] == 0
    before = live_jobs(cli_db)
    code, out, err = cli(capsys, "jobs", "edit", "render", "--node-label", "two words")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "node-label" in err and "'two words'" in err
    assert live_jobs(cli_db) == before


def test_status_and_jobs_list_warn_of_a_label_no_live_node_has(capsys, cli_db: Path):
    assert add(capsys, "--node-label", "gpu")[0] == 0
    cli(capsys, "jobs", "add", "other", "--schedule", "@daily", "--shell", "true")
    code, out, err = cli(capsys, "status")
    assert "placement  no live node has label 'gpu': render cannot run until one does" in out
    code, out, _ = cli(capsys, "status", "--json")
    assert json.loads(out)["unplaced"] == {"gpu": ["render"]}
    code, out, err = cli(capsys, "jobs", "list", "--json")
    assert code == 0 and "no live node has label 'gpu'" in err
    assert [j["name"] for j in json.loads(out)] == ["other", "render"]  # stdout stays JSON

    beat(cli_db, ["eu"], expires_in_ms=-1000)  # a node that had the label's neighbour, gone
    beat(cli_db, ["gpu"], expires_in_ms=-1000, host="old-box")  # one that had it: gone too
    assert "no live node has label 'gpu'" in cli(capsys, "jobs", "list")[2]

    beat(cli_db, ["gpu", "eu"])  # a live node carries it now
    code, out, err = cli(capsys, "jobs", "list")
    assert err == ""
    code, out, _ = cli(capsys, "status", "--json")
    assert json.loads(out)["unplaced"] == {}


def test_a_node_on_this_host_whose_process_is_gone_does_not_count(capsys, cli_db: Path):
    assert add(capsys, "--node-label", "gpu")[0] == 0
    gone = subprocess.Popen(["true"])
    gone.wait()
    beat(cli_db, ["gpu"], host=socket.gethostname(), pid=gone.pid)  # its heartbeat has not expired yet
    assert "no live node has label 'gpu'" in cli(capsys, "jobs", "list")[2]


def test_nodes_show_each_node_s_labels(capsys, cli_db: Path):
    beat(cli_db, ["gpu", "eu"])
    code, out, _ = cli(capsys, "nodes", "--json")
    assert code == 0
    [node] = json.loads(out)
    assert node["labels"] == ["eu", "gpu"] and node["alive"] is True
    code, out, _ = cli(capsys, "nodes")
    assert out.splitlines()[0].split()[-1] == "LABELS"
    assert out.splitlines()[1].endswith("eu gpu")


def test_job_files_carry_node_label_both_ways(capsys, cli_db: Path, tmp_path: Path):
    (tmp_path / "jobs.toml").write_text(
        '[[job]]\nname = "render"\nschedule = "@hourly"\nshell = "make render"\nnode_label = "gpu"\n'
    )
    code, out, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    assert live_jobs(cli_db)["render"]["node_label"] == "gpu"
    code, out, _ = cli(capsys, "export")
    assert 'node_label = "gpu"' in out
    (tmp_path / "jobs.toml").write_text('[[job]]\nname = "render"\nschedule = "@hourly"\nshell = "make render"\n')
    code, out, _ = cli(capsys, "apply", "jobs.toml", "--dry-run")
    assert "node_label" in out  # taking the label off is a change the diff shows
    (tmp_path / "bad.toml").write_text(
        '[[job]]\nname = "x"\nschedule = "@hourly"\nshell = "true"\nnode_label = "a/b"\n'
    )
    code, out, err = cli(capsys, "apply", "bad.toml")
    assert code == 2 and "node_label" in err and "x" not in live_jobs(cli_db)


def test_a_node_s_labels_come_from_its_config_or_the_environment(tmp_path: Path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[node]\nlabels = ["gpu", "eu"]\n')
    assert load_settings(cfg, env={"CRONUI_TIMEZONE": "UTC"}).node.labels == ["gpu", "eu"]
    env = {"CRONUI_TIMEZONE": "UTC", "CRONUI_NODE_LABELS": "gpu, big-disk"}
    assert load_settings(cfg, env=env).node.labels == ["gpu", "big-disk"]
    cfg.write_text('[node]\nlabels = ["no spaces please"]\n')
    with pytest.raises(ConfigError, match=r"node\.labels: 'no spaces please' is not a valid label"):
        load_settings(cfg, env={"CRONUI_TIMEZONE": "UTC"})
    cfg.write_text('[node]\nlabels = "gpu"\n')  # one string reads as the environment variable does
    assert load_settings(cfg, env={"CRONUI_TIMEZONE": "UTC"}).node.labels == ["gpu"]


def test_label_on_the_daemon_is_checked_before_it_starts(capsys, cli_db: Path):
    code, out, err = cli(capsys, "--no-ui", "--label", "gpu", "--label", "not ok")
    assert code == 2 and out == ""
    assert err.strip() == (
        "cronui: --label: 'not ok' is not a valid label "
        "(letters, digits, '.', '_', '-'; up to 63; starting with a letter or digit)"
    )


def test_run_now_of_a_pinned_job_with_no_scheduler_never_runs_it_on_the_wrong_host(capsys, cli_db: Path):
    assert add(capsys, "--node-label", "gpu")[0] == 0
    code, out, err = cli(capsys, "jobs", "run", "render", "--wait")
    assert code == 2 and out == ""
    assert "render runs only on a node with label 'gpu'" in err and "nothing was queued" in err
    code, out, _ = cli(capsys, "jobs", "run", "render")  # queued for the node that has it
    assert code == 0 and out.startswith("queued run #1 of render")
    code, out, _ = cli(capsys, "runs", "list", "--json")
    assert [r["status"] for r in json.loads(out)] == ["pending"]
